//! The web app's files (Trunk's `dist/`) and the official socket.io client, held in memory and
//! compressed once, by a background thread right after startup (until a file's compressed
//! forms are ready it is sent as is); every page route gets `index.html` so deep links work.
//! A release build brings its own brotli forms (`<file>.br`, written at brotli's best and
//! slowest setting by `scripts/precompress.mjs`); they are used when they unpack to the file.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The socket.io client files, as socket.io's own server serves them under `/socket.io/`.
const SOCKET_IO_CLIENT: &[(&str, &[u8])] = &[
    (
        "socket.io.js",
        include_bytes!("../../node_modules/socket.io-client/dist/socket.io.js"),
    ),
    (
        "socket.io.js.map",
        include_bytes!("../../node_modules/socket.io-client/dist/socket.io.js.map"),
    ),
    (
        "socket.io.min.js",
        include_bytes!("../../node_modules/socket.io-client/dist/socket.io.min.js"),
    ),
    (
        "socket.io.min.js.map",
        include_bytes!("../../node_modules/socket.io-client/dist/socket.io.min.js.map"),
    ),
    (
        "socket.io.esm.min.js",
        include_bytes!("../../node_modules/socket.io-client/dist/socket.io.esm.min.js"),
    ),
    (
        "socket.io.esm.min.js.map",
        include_bytes!("../../node_modules/socket.io-client/dist/socket.io.esm.min.js.map"),
    ),
];

/// Shown instead of the app when `dist/` has not been built.
const NOT_BUILT: &str = "<!DOCTYPE html><meta charset=utf-8><title>Switchboard</title>\
<h1>The web app has not been built</h1>\
<p>The server is running, but it found no <code>index.html</code> in its site directory. \
Run <code>make run</code> from the repository root, which builds the app and starts the server, \
or point <code>--site-dir</code> at Trunk's output.</p>";

/// One file, in every encoding worth sending.
struct Asset {
    content_type: &'static str,
    etag: HeaderValue,
    /// File names with a content hash (Trunk's) never change, so browsers may cache them forever.
    immutable: bool,
    identity: Bytes,
    /// Filled by [`Site::compress_all`]; `Some(None)` when compressing does not pay.
    gzip: OnceLock<Option<Bytes>>,
    brotli: OnceLock<Option<Bytes>>,
    /// The `.br` file the build wrote beside this one, not checked yet.
    built_brotli: Option<Bytes>,
}

/// Every file the server sends that is not an API.
#[derive(Clone)]
pub struct Site {
    assets: Arc<HashMap<String, Asset>>,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

impl Site {
    /// The web app built into this binary, if it was built first; else Trunk's `dist/` of the
    /// source tree it was built from (for a development build that ran before Trunk did).
    pub fn built_in() -> Site {
        if embedded::SITE.is_empty() {
            return Site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist"));
        }
        let files = embedded::SITE
            .iter()
            .map(|(url, bytes)| (url.to_string(), bytes.to_vec()));
        Site::from_files(files, "the binary")
    }

    /// Loads `dir` (missing is not an error: pages then explain how to build it) and the
    /// embedded socket.io client.
    pub fn load(dir: &Path) -> Site {
        let mut paths = Vec::new();
        collect_files(dir, dir, &mut paths);
        let files = paths
            .into_iter()
            .filter_map(|(url, full)| match std::fs::read(&full) {
                Ok(bytes) => Some((url, bytes)),
                Err(error) => {
                    tracing::warn!(path = %full.display(), %error, "cannot read a site file");
                    None
                }
            });
        Site::from_files(files, &dir.display().to_string())
    }

    fn from_files(files: impl Iterator<Item = (String, Vec<u8>)>, source: &str) -> Site {
        let mut assets = HashMap::new();
        for (name, bytes) in SOCKET_IO_CLIENT {
            assets.insert(
                format!("/socket.io/{name}"),
                Asset::new(name, bytes.to_vec(), false, None),
            );
        }
        let mut files: HashMap<String, Vec<u8>> = files.collect();
        // `x.br` beside `x` is x's brotli form from the build, not a file of its own.
        let built: Vec<String> = files
            .keys()
            .filter_map(|url| url.strip_suffix(".br"))
            .filter(|original| files.contains_key(*original))
            .map(str::to_owned)
            .collect();
        let mut built_brotli = HashMap::new();
        for original in built {
            if let Some(packed) = files.remove(&format!("{original}.br")) {
                built_brotli.insert(original, Bytes::from(packed));
            }
        }
        for (url_path, bytes) in files {
            let immutable = url_path != "/index.html" && has_content_hash(&url_path);
            let packed = built_brotli.remove(&url_path);
            let asset = Asset::new(&url_path, bytes, immutable, packed);
            assets.insert(url_path, asset);
        }
        if !assets.contains_key("/index.html") {
            tracing::warn!(
                source,
                "no index.html: the web app is not built (run `make run`)"
            );
        }
        let site = Site {
            assets: Arc::new(assets),
        };
        let warm = site.clone();
        let spawned = std::thread::Builder::new()
            .name("compress-assets".into())
            .spawn(move || warm.compress_all());
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot compress assets in the background; serving them uncompressed");
        }
        site
    }

    /// The CSP hashes of `index.html`'s inline scripts (Trunk's loader).
    pub fn inline_script_hashes(&self) -> Vec<String> {
        self.assets
            .get("/index.html")
            .and_then(|index| std::str::from_utf8(&index.identity).ok())
            .map(crate::headers::inline_script_hashes)
            .unwrap_or_default()
    }

    /// Compresses every file that is not compressed yet (idempotent).
    pub fn compress_all(&self) {
        for asset in self.assets.values() {
            asset.compressed();
        }
    }

    /// Answers a GET or HEAD for `uri`: a file, the app's `index.html` for a page, or 404.
    pub fn respond(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let path = uri.path();
        if let Some(asset) = self.assets.get(path) {
            return asset.respond(method, headers);
        }
        // Unknown paths still get the app (it shows its not-found page) but with a 404 status.
        let status = if app::is_page(path) {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        match self.assets.get("/index.html") {
            Some(index) => {
                let mut response = index.respond(method, headers);
                if status != StatusCode::OK {
                    *response.status_mut() = status;
                }
                response
            }
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                NOT_BUILT,
            )
                .into_response(),
        }
    }
}

impl Asset {
    fn new(name: &str, identity: Vec<u8>, immutable: bool, built_brotli: Option<Bytes>) -> Asset {
        let content_type = content_type(name);
        let compressible = identity.len() > 1024 && !content_type.starts_with("image/png");
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        identity.hash(&mut hasher);
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let (gzip, brotli) = (OnceLock::new(), OnceLock::new());
        if !compressible {
            let _ = (gzip.set(None), brotli.set(None));
        }
        Asset {
            content_type,
            etag,
            immutable,
            identity: Bytes::from(identity),
            gzip,
            brotli,
            built_brotli,
        }
    }

    fn compressed(&self) {
        let smaller =
            |packed: Vec<u8>| (packed.len() < self.identity.len()).then(|| Bytes::from(packed));
        self.gzip
            .get_or_init(|| gzip(&self.identity).and_then(smaller));
        self.brotli.get_or_init(|| {
            let built = self.built_brotli.clone();
            match built.filter(|packed| unpacks_to(packed, &self.identity)) {
                Some(packed) => (packed.len() < self.identity.len()).then_some(packed),
                None => brotli(&self.identity).and_then(smaller),
            }
        });
    }

    fn respond(&self, method: &Method, request: &HeaderMap) -> Response {
        let cache = if self.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let mut response = Response::builder()
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::CACHE_CONTROL, cache)
            .header(header::ETAG, self.etag.clone())
            .header(header::VARY, "accept-encoding");
        let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|tags| {
            tags.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii() == self.etag.as_bytes())
        });
        if fresh {
            return response
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_default();
        }
        let accepts = |coding: &str| {
            request
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|item| {
                    let mut parts = item.split(';');
                    let name = parts.next().unwrap_or("").trim();
                    let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                    name.eq_ignore_ascii_case(coding) && !refused
                })
        };
        let (bytes, coding) = match (self.brotli.get(), self.gzip.get()) {
            (Some(Some(br)), _) if accepts("br") => (br, Some("br")),
            (_, Some(Some(gz))) if accepts("gzip") => (gz, Some("gzip")),
            _ => (&self.identity, None),
        };
        if let Some(coding) = coding {
            response = response.header(header::CONTENT_ENCODING, coding);
        }
        response = response.header(header::CONTENT_LENGTH, bytes.len());
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(bytes.clone())
        };
        response.body(body).unwrap_or_default()
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = relative.components().fold(String::new(), |mut url, part| {
                url.push('/');
                url.push_str(&part.as_os_str().to_string_lossy());
                url
            });
            out.push((url, path));
        }
    }
}

/// Trunk names files `name-<hash>.ext` (and the wasm `name-<hash>_bg.wasm`), with a hash of
/// 15 or 16 hex digits.
fn has_content_hash(path: &str) -> bool {
    let stem = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .split('.')
        .next()
        .unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 15 && hash.chars().all(|c| c.is_ascii_hexdigit()))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

/// Whether `packed` is the brotli form of `original` (a stale or broken `.br` is not used).
fn unpacks_to(packed: &[u8], original: &[u8]) -> bool {
    unbrotli(packed).is_some_and(|unpacked| unpacked == original)
}

fn unbrotli(packed: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &packed[..], &mut out).ok()?;
    Some(out)
}

/// At startup: quality 9 (11, the build's, takes seconds for the wasm).
fn brotli(data: &[u8]) -> Option<Vec<u8>> {
    brotli_at(data, 9)
}

fn brotli_at(data: &[u8], quality: i32) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(site: &Site, path: &str, headers: &[(&'static str, &str)]) -> Response {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        site.respond(&Method::GET, &path.parse().unwrap(), &map)
    }

    fn site_with_index() -> (tempfile::TempDir, Site) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<!DOCTYPE html><title>x</title>",
        )
        .unwrap();
        std::fs::write(dir.path().join("app-0123456789abcdef.js"), "x".repeat(5000)).unwrap();
        let site = Site::load(dir.path());
        site.compress_all();
        (dir, site)
    }

    #[test]
    fn pages_get_index_and_unknown_paths_get_404_with_the_app() {
        let (_dir, site) = site_with_index();
        assert_eq!(get(&site, "/chat", &[]).status(), StatusCode::OK);
        assert_eq!(get(&site, "/chat/simple", &[]).status(), StatusCode::OK);
        let missing = get(&site, "/no/such/page", &[]);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            missing.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn hashed_files_are_compressed_and_cached_forever() {
        let (_dir, site) = site_with_index();
        let response = get(
            &site,
            "/app-0123456789abcdef.js",
            &[("accept-encoding", "gzip, deflate, br")],
        );
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        assert!(response.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let gz = get(
            &site,
            "/app-0123456789abcdef.js",
            &[("accept-encoding", "gzip")],
        );
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        let plain = get(
            &site,
            "/app-0123456789abcdef.js",
            &[("accept-encoding", "br;q=0")],
        );
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(plain.headers()[header::CONTENT_LENGTH], "5000");
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    const BR: &[(&str, &str)] = &[("accept-encoding", "br")];

    #[tokio::test]
    async fn the_builds_brotli_form_is_sent_and_is_no_file_of_its_own() {
        let (dir, _) = site_with_index();
        let js = "let x = 1;\n".repeat(500);
        // Quality 1 packs differently from the server's own setting: the bytes say whose they are.
        let built = brotli_at(js.as_bytes(), 1).unwrap();
        std::fs::write(dir.path().join("app-fedcba9876543210.js"), &js).unwrap();
        std::fs::write(dir.path().join("app-fedcba9876543210.js.br"), &built).unwrap();
        let site = Site::load(dir.path());
        site.compress_all();
        let response = get(&site, "/app-fedcba9876543210.js", BR);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(body(response).await, built);
        let br_path = get(&site, "/app-fedcba9876543210.js.br", BR);
        assert_eq!(br_path.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_stale_brotli_form_is_not_sent() {
        let (dir, _) = site_with_index();
        let js = "let y = 2;\n".repeat(500);
        std::fs::write(dir.path().join("app-fedcba9876543210.js"), &js).unwrap();
        let stale = brotli_at("let y = 1;\n".repeat(500).as_bytes(), 1).unwrap();
        std::fs::write(dir.path().join("app-fedcba9876543210.js.br"), stale).unwrap();
        let site = Site::load(dir.path());
        site.compress_all();
        let response = get(&site, "/app-fedcba9876543210.js", BR);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(unbrotli(&body(response).await).unwrap(), js.as_bytes());
    }

    #[test]
    fn a_matching_etag_is_not_sent_again() {
        let (_dir, site) = site_with_index();
        let first = get(&site, "/socket.io/socket.io.js", &[]);
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(
            get(
                &site,
                "/socket.io/socket.io.js",
                &[("if-none-match", &etag)]
            )
            .status(),
            StatusCode::NOT_MODIFIED
        );
    }

    #[test]
    fn without_a_build_pages_explain_how_to_build() {
        let dir = tempfile::tempdir().unwrap();
        let site = Site::load(dir.path());
        let response = get(&site, "/chat", &[]);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            get(&site, "/socket.io/socket.io.min.js", &[]).status(),
            StatusCode::OK
        );
    }

    #[test]
    fn content_hashes_are_recognised() {
        assert!(has_content_hash("/frontend-df248c4175cbf27_bg.wasm"));
        assert!(has_content_hash("/frontend-df248c4175cbf27.js"));
        assert!(has_content_hash("/main-26d3ae1ad04a27b8.css"));
        assert!(!has_content_hash("/index.html"));
        assert!(!has_content_hash("/socket.io.js"));
    }
}
