//! A small tmpfs mounted for one test: a disk that can be filled, freed,
//! and switched between read-only and writable. Needs root (CI runs as
//! root); a test that cannot mount fails, on CI and off it, because a
//! skipped storage test proves nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted (lazily, so a leftover process cannot keep
/// it) when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on a fresh temporary folder.
    pub fn mount(kib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k,mode=0755"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root (CI runs as root): mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir, mounted: true }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every free byte with the file `filler`; answers its path.
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("the filler file");
        for chunk in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
            let bytes = vec![0x5a_u8; chunk];
            while f.write_all(&bytes).is_ok() {}
        }
        // What could not be written may sit in the page cache of the file;
        // tmpfs has no other place for it, so the disk is full now.
        path
    }

    /// Whether `n` more bytes fit (checked by writing and removing them).
    pub fn has_room(&self, n: usize) -> bool {
        let probe = self.path().join("room-probe");
        let fits = std::fs::write(&probe, vec![0_u8; n]).is_ok();
        let _ = std::fs::remove_file(&probe);
        fits
    }

    /// Remounts read-only (`true`) or writable (`false`). Answers the
    /// error `mount` reported, e.g. "busy" while a process holds a file
    /// open for writing.
    pub fn remount(&self, read_only: bool) -> Result<(), String> {
        let mode = if read_only { "remount,ro" } else { "remount,rw" };
        let out = Command::new("mount").args(["-o", mode]).arg(self.path()).output().expect("mount runs");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
            self.mounted = false;
        }
    }
}
