//! The browser client, embedded in the binary at compile time (`web/`), so `rally serve` serves
//! it from any working directory. Responses carry a strict Content-Security-Policy: the client
//! needs no inline script or style.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

/// The files under `web/` (node_modules and tests excluded).
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/web/"]
#[exclude = "node_modules/*"]
#[exclude = "test/*"]
#[exclude = "package*.json"]
#[exclude = "tsconfig.json"]
pub struct Assets;

/// The Content-Security-Policy sent with the client.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Serve `path` from the embedded client; unknown paths without an extension fall back to
/// `index.html` (client-side routes), others are 404.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().query("path").trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let (file, name) = match Assets::get(path) {
        Some(f) => (f, path.to_string()),
        None if !path.contains('.') => match Assets::get("index.html") {
            Some(f) => (f, "index.html".to_string()),
            None => return HttpResponse::NotFound().finish(),
        },
        None => {
            return crate::error::AppError::not_found(format!("no file {path}"))
                .error_response_json()
        }
    };
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let cache = if name == "index.html" {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime.as_ref()))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(file.data.into_owned())
}

/// Route registration for the client (must be registered last: it catches everything).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/{path:.*}", web::get().to(serve));
}
