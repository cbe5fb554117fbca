//! Small pieces several pages share.

pub mod browser;
mod chat_log;
mod composer;
mod connection_badge;
mod invite;
mod media_switches;
mod peer_picker;
mod video_view;

pub use chat_log::{append_line, ChatLine, ChatLog};
pub use composer::Composer;
pub use connection_badge::ConnectionBadge;
pub use invite::{phone_base, qr_svg, use_phone_base, Invite, PhoneBase};
pub use media_switches::{use_media_switches, MediaButtons, MediaSwitches};
pub use peer_picker::PeerPicker;
pub use video_view::VideoView;
