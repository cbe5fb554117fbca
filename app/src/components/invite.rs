//! An invitation to this page for another device: which address it should open, the QR code
//! that carries it, and a warning when other devices cannot reach this server yet.

use leptos::prelude::*;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::config::{get_site_config, SiteConfig};

/// The base URL (scheme, host, port) for phones, and what may stop them from using it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneBase {
    pub base: String,
    pub warning: Option<String>,
}

/// Chooses the base URL for a link to another device. A page opened on this computer's loopback
/// address would hand phones an address that means *the phone*, so it uses the server's LAN
/// address instead; `--public-url` beats everything.
pub fn phone_base(config: &SiteConfig, origin: &str, hostname: &str) -> PhoneBase {
    if let Some(public) = &config.public_url {
        return PhoneBase {
            base: public.clone(),
            warning: None,
        };
    }
    let loopback = hostname == "localhost"
        || hostname.starts_with("127.")
        || hostname == "[::1]"
        || hostname == "::1";
    if !loopback {
        return PhoneBase {
            base: origin.to_owned(),
            warning: None,
        };
    }
    match config.lan_urls.first() {
        Some(lan) => PhoneBase {
            base: lan.clone(),
            warning: config.loopback_only.then(|| {
                "This server listens on 127.0.0.1 only: other devices cannot open this link. \
                 Restart it for them with: make run ARGS='--bind 0.0.0.0 --tls self-signed'"
                    .to_owned()
            }),
        },
        None => PhoneBase {
            base: origin.to_owned(),
            warning: Some(
                "This computer has no network address a phone could use. \
                 Open the link in another window here instead."
                    .to_owned(),
            ),
        },
    }
}

/// `url` as an SVG QR code (dark modules on white, with the quiet zone scanners need).
pub fn qr_svg(url: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(220, 220)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .quiet_zone(true)
            .build(),
    )
}

/// The base URL other devices should use for this server, with its warning (`None` until
/// the server's facts have arrived).
pub fn use_phone_base() -> Signal<Option<PhoneBase>> {
    let config = LocalResource::new(get_site_config);
    Signal::derive(move || {
        let config = config.get()?.unwrap_or_default();
        let location = window().location();
        let (origin, host) = (location.origin().ok()?, location.hostname().ok()?);
        Some(phone_base(&config, &origin, &host))
    })
}

/// This page's link for another person or device (`path`, e.g. `/meet?room=standup`), as text
/// and QR code, under `summary`; unfolded while `open`. Test ids `invite-url`, `invite-qr`.
#[component]
pub fn Invite(
    #[prop(into)] path: Signal<String>,
    summary: &'static str,
    #[prop(into)] open: Signal<bool>,
) -> impl IntoView {
    let base = use_phone_base();
    move || {
        let PhoneBase { base, warning } = base.get()?;
        let url = format!("{base}{}", path.get());
        Some(view! {
            <details class="share" prop:open=open>
                <summary>{summary}</summary>
                <div class="qr" data-testid="invite-qr" inner_html=qr_svg(&url).unwrap_or_default()></div>
                <p class="url"><a data-testid="invite-url" href=url.clone()>{url.clone()}</a></p>
                {warning.map(|w| view! { <p class="warning" data-testid="invite-warning">{w}</p> })}
            </details>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lan: &[&str], loopback_only: bool, public: Option<&str>) -> SiteConfig {
        SiteConfig {
            lan_urls: lan.iter().map(|s| s.to_string()).collect(),
            loopback_only,
            tls: false,
            public_url: public.map(str::to_owned),
            ..SiteConfig::default()
        }
    }

    #[test]
    fn a_page_opened_on_localhost_shows_the_lan_address() {
        let chosen = phone_base(
            &config(&["http://192.168.1.5:3000"], false, None),
            "http://localhost:3000",
            "localhost",
        );
        assert_eq!(
            chosen,
            PhoneBase {
                base: "http://192.168.1.5:3000".into(),
                warning: None
            }
        );
    }

    #[test]
    fn a_loopback_only_server_warns_that_phones_cannot_reach_it() {
        let chosen = phone_base(
            &config(&["http://192.168.1.5:3000"], true, None),
            "http://127.0.0.1:3000",
            "127.0.0.1",
        );
        assert_eq!(chosen.base, "http://192.168.1.5:3000");
        assert!(chosen.warning.unwrap().contains("--bind 0.0.0.0"));
    }

    #[test]
    fn a_page_opened_on_the_lan_address_keeps_it() {
        let chosen = phone_base(
            &config(&["http://10.0.0.2:3000"], false, None),
            "http://192.168.1.5:3000",
            "192.168.1.5",
        );
        assert_eq!(chosen.base, "http://192.168.1.5:3000");
    }

    #[test]
    fn the_public_url_wins() {
        let chosen = phone_base(
            &config(
                &["http://10.0.0.2:3000"],
                true,
                Some("https://sb.example.org"),
            ),
            "http://localhost:3000",
            "localhost",
        );
        assert_eq!(
            chosen,
            PhoneBase {
                base: "https://sb.example.org".into(),
                warning: None
            }
        );
    }

    #[test]
    fn without_any_lan_address_the_origin_is_used_with_a_warning() {
        let chosen = phone_base(
            &config(&[], true, None),
            "http://127.0.0.1:4173",
            "127.0.0.1",
        );
        assert_eq!(chosen.base, "http://127.0.0.1:4173");
        assert!(chosen.warning.is_some());
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("http://192.168.1.5:3000/remote/controller?id=abc").unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
        assert!(svg.contains("#000000"));
    }
}
