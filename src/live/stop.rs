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
    /// API server).
    pub fn check(&self) -> Option<Stopped> {
        let f = self.file.as_ref()?;
        match std::fs::read_to_string(f) {
            Ok(text) => Some(Stopped { source: f.display().to_string(), reason: text.trim().to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // Exists but unreadable (permissions, a directory): fail safe.
            Err(e) => Some(Stopped {
                source: f.display().to_string(),
                reason: format!("unreadable stop file ({e}): treated as stopped"),
            }),
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
    fn an_unreadable_stop_file_fails_safe() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be cannot be read as text.
        let s = EmergencyStop::with_file(dir.path());
        assert!(s.check().unwrap().reason.contains("treated as stopped"));
    }
}
