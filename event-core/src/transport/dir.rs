//! The directory the sockets of an application live in, private to its user.

use crate::config::ConnectionConfig;
use crate::error::Error;
use std::path::PathBuf;

impl ConnectionConfig {
    /// A directory for the sockets of application `app`, private to this user, made if
    /// missing: `$XDG_RUNTIME_DIR/<app>` where the system provides a runtime directory
    /// (per user, owner-only, emptied at logout), else `<temp>/<app>-<uid>`. The
    /// processes of one user's session that call it get the same directory; a process
    /// started elsewhere (a service, cron, a container) may see another
    /// `XDG_RUNTIME_DIR` or none: give such processes one directory explicitly.
    ///
    /// Fails with [`Error::Io`](crate::Error::Io) when `app` is not a plain file name
    /// (empty, `.`, `..`, or with a `/`), when the directory cannot be made, or when it
    /// exists but is not a directory owned by this user and closed to others (another
    /// user could otherwise plant sockets in it).
    ///
    /// ```
    /// use event_core::ConnectionConfig;
    ///
    /// let dir = ConnectionConfig::socket_dir("my-app")?;
    /// let networking = ConnectionConfig::from_name("networking", &dir);
    /// assert!(networking.path.starts_with(&dir));
    /// # Ok::<(), event_core::Error>(())
    /// ```
    pub fn socket_dir(app: &str) -> Result<PathBuf, Error> {
        if app.is_empty() || app == "." || app == ".." || app.contains('/') {
            return Err(Error::Io {
                endpoint: app.to_owned(),
                context: format!("choosing a socket directory for `{app}`"),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the application name must be a plain file name",
                ),
            });
        }
        // The user the transport checks peers against.
        let uid = rustix::process::geteuid().as_raw();
        let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(runtime) if runtime.is_absolute() => runtime.join(app),
            _ => std::env::temp_dir().join(format!("{app}-{uid}")),
        };
        private_dir(dir, uid, app)
    }
}

/// `dir`, made owner-only if missing, checked to be a directory of `uid` closed to others.
fn private_dir(dir: PathBuf, uid: u32, app: &str) -> Result<PathBuf, Error> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let failed = |what: &str, source: std::io::Error| Error::Io {
        endpoint: app.to_owned(),
        context: format!("{what} {}", dir.display()),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(failed("making the socket directory", error)),
    }
    let metadata = std::fs::symlink_metadata(&dir)
        .map_err(|error| failed("reading the socket directory", error))?;
    let open_to_others = metadata.permissions().mode() & 0o077 != 0;
    if !metadata.is_dir() || metadata.uid() != uid || open_to_others {
        return Err(failed(
            "using the socket directory",
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "it must be a directory of this user, closed to others (mode 0700)",
            ),
        ));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::private_dir;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_socket_dir_is_made_owner_only_and_one_open_to_others_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let uid = rustix::process::geteuid().as_raw();
        let made = private_dir(base.path().join("app"), uid, "app").unwrap();
        let mode = std::fs::metadata(&made).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // The same directory again: fine.
        private_dir(made.clone(), uid, "app").unwrap();
        // Opened to others (as a directory another user planted would be): refused.
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = private_dir(made, uid, "app").unwrap_err().to_string();
        assert!(error.contains("closed to others"), "{error}");
        // Someone else's, or a file: refused.
        assert!(private_dir(base.path().to_path_buf(), uid.wrapping_add(1), "app").is_err());
        let file = base.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(private_dir(file, uid, "app").is_err());
    }

    #[test]
    fn an_application_name_that_is_a_path_is_refused() {
        for app in ["", ".", "..", "a/b", "/etc"] {
            assert!(crate::ConnectionConfig::socket_dir(app).is_err(), "{app:?}");
        }
    }
}
