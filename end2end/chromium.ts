// How every test launches Debian's Chromium: no sandbox or GPU (none in the test machine),
// no traffic of its own, and a fake camera and microphone granted without a prompt.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];
