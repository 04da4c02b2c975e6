//! Is the data dir its own mounted filesystem? On the SD image `/var/lib/venuebox` is a partition
//! of its own (`require_data_mount = true`); if it did not mount, writing there would quietly
//! start a fresh, empty box on the root filesystem underneath, whose first-boot password and
//! scores vanish at the next boot that does mount it. The box waits instead, showing the fault.

use std::path::{Path, PathBuf};

/// Whether `path` is a mount point, read from the kernel's mount table
/// (`/proc/self/mountinfo`). A path that does not exist is not one.
pub fn is_mount_point(path: &Path) -> std::io::Result<bool> {
    let Ok(path) = path.canonicalize() else {
        return Ok(false);
    };
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mounted = mount_points(&table).any(|point| point == path);
    Ok(mounted)
}

/// The mount points of a `mountinfo` table (the fifth field of each line, with the kernel's
/// octal escapes for space, tab, newline and backslash undone).
fn mount_points(table: &str) -> impl Iterator<Item = PathBuf> + '_ {
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_octal(field)))
}

fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], escaped) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_points_with_escaped_names() {
        let table = "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw\n\
                     30 22 179:3 / /var/lib/venuebox rw,noatime shared:9 - ext4 /dev/mmcblk0p3 rw\n\
                     31 22 0:40 / /media/usb\\040stick rw - vfat /dev/sda1 rw\n";
        let points: Vec<PathBuf> = mount_points(table).collect();
        assert_eq!(
            points,
            [
                PathBuf::from("/"),
                PathBuf::from("/var/lib/venuebox"),
                PathBuf::from("/media/usb stick")
            ]
        );
    }

    #[test]
    fn the_root_is_a_mount_point_and_a_fresh_directory_is_not() {
        assert!(is_mount_point(Path::new("/")).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("data");
        std::fs::create_dir(&inside).unwrap();
        assert!(!is_mount_point(&inside).unwrap());
        assert!(!is_mount_point(&dir.path().join("missing")).unwrap());
    }
}
