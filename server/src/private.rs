//! Files and directories only the server's own user may read: the chat history, the TLS key
//! and certificate, and the data directory that holds them.

use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if missing; one it creates is 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Writes `contents` to a file that is 0600 from the moment it exists.
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)?;
    restrict(path)
}

/// Makes an existing file 0600 (a directory 0700), whatever it was.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Creates an empty file that is 0600, or makes an existing one so.
pub fn touch(path: &Path) -> io::Result<()> {
    if !path.exists() {
        write(path, b"")?;
    }
    restrict(path)
}
