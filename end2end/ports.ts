// The ports of the servers Playwright starts (playwright.config.ts) for tests to reach.
export const PORT = 4173;
/** A second server whose meetings mesh (`--meet-media mesh`), for the mesh's own tests. */
export const MESH_PORT = 4174;
