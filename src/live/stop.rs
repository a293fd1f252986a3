//! The emergency stop, checked before every action: the policy's own
//! `guardrails.emergency_stop`, a local file, or (with the Kubernetes executor) a ConfigMap
//! `understudy-emergency-stop` in the controller's namespace. Any one of them stops every
//! automated action; reading them never fails open: a stop file that exists but cannot be read
//! counts as "stopped".

use std::path::{Path, PathBuf};

/// Where the stop can be set, apart from the policy.
#[derive(Debug, Clone, Default)]
pub struct EmergencyStop {
    /// A file whose existence stops automation (its content, if any, is the reason).
    pub file: Option<PathBuf>,
}

/// Why automation is stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub source: String,
    pub reason: String,
}

impl EmergencyStop {
    pub fn with_file(path: &Path) -> Self {
        EmergencyStop { file: Some(path.to_path_buf()) }
    }

    /// Check the local switches (the ConfigMap is checked by the executor that can reach the
    /// API server). Nothing at the path: not stopped. A readable file saying `off`: not
    /// stopped (the switch can stay in place). Anything else at the path is a stop: a file
    /// (its text is the reason), a directory, an unreadable file, a symlink, dangling or not.
    pub fn check(&self) -> Option<Stopped> {
        let f = self.file.as_ref()?;
        let stopped = |reason: String| Some(Stopped { source: f.display().to_string(), reason });
        match std::fs::symlink_metadata(f) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return stopped(format!("cannot look at the stop file ({e}): treated as stopped")),
            Ok(_) => {}
        }
        match std::fs::read_to_string(f) {
            Ok(text) if text.trim().eq_ignore_ascii_case("off") => None,
            Ok(text) => stopped(text.trim().to_string()),
            // Exists but unreadable (permissions, a directory, a dangling symlink): fail safe.
            Err(e) => stopped(format!("unreadable stop file ({e}): treated as stopped")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_file_stops_and_removing_it_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("STOP");
        let s = EmergencyStop::with_file(&f);
        assert_eq!(s.check(), None);
        std::fs::write(&f, "bad deploy in progress, hands off\n").unwrap();
        assert_eq!(s.check().unwrap().reason, "bad deploy in progress, hands off");
        std::fs::remove_file(&f).unwrap();
        assert_eq!(s.check(), None);
    }

    #[test]
    fn a_dangling_symlink_stops_and_off_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("STOP");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &f).unwrap();
        let s = EmergencyStop::with_file(&f);
        assert!(s.check().unwrap().reason.contains("treated as stopped"), "{:?}", s.check());
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, " OFF\n").unwrap();
        assert_eq!(s.check(), None, "a readable `off` keeps automation on");
        std::fs::write(&f, "").unwrap();
        assert!(s.check().is_some(), "an empty file is a stop");
    }

    #[test]
    fn an_unreadable_stop_file_fails_safe() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be cannot be read as text.
        let s = EmergencyStop::with_file(dir.path());
        assert!(s.check().unwrap().reason.contains("treated as stopped"));
    }
}
