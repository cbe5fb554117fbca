//! Small pieces several pages share.

pub(crate) mod browser;
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
pub use invite::{phone_base, qr_svg, Invite};
pub use media_switches::{use_media_switches, MediaButtons, MediaSwitches};
pub use peer_picker::PeerPicker;
pub use video_view::VideoView;
