//! Untrusted names and paths from the `info` dictionary, and the checks that keep every file
//! inside the download folder.
//!
//! **Decision: refuse, do not sanitize.** A torrent whose `name` or any path component is
//! empty, `.` or `..`, contains `/`, `\` or NUL, or would not be a single plain component on
//! this system (a drive prefix such as `C:` on Windows, a root), is rejected by
//! [`super::Metainfo::from_bytes`] with an error naming the file index and the component. So
//! is a torrent where two files share a path, or where one file's path is a folder of
//! another's. Rewriting such paths would make our files differ from what other clients write
//! for the same torrent (breaking `seed` of data fetched elsewhere), can map two files onto
//! one, and hides an attack that the user should hear about; honest torrent makers never
//! produce these paths, so refusing costs nothing real.
//!
//! Names are text: `name.utf-8` / `path.utf-8` win when they are well-formed UTF-8, otherwise
//! bytes that are not UTF-8 are converted lossily (U+FFFD). Two paths that collapse to the same
//! text that way are then refused as duplicates rather than written over each other.
//!
//! BEP 47 padding files (`attr` containing `p`) are exempt from the duplicate and folder checks,
//! since writers reuse paths like `.pad/16384`; their components are still checked, and
//! storage never writes them.

use super::fields::{bytes, dict, list, lossy, non_negative, required};
use super::{Error, FileEntry};
use crate::bencode::Node;
use std::path::{Component, Path};

/// The torrent's `name`, preferring `name.utf-8`, checked like a path component.
pub(super) fn name(info: &Node<'_>) -> Result<String, Error> {
    let (field, text) = match info.get("name.utf-8").and_then(Node::as_str) {
        Some(s) => ("info.name.utf-8", s.to_string()),
        None => {
            let raw = bytes(required(info, "name", "info.name")?, "info.name")?;
            ("info.name", lossy(raw))
        }
    };
    check_component(field, &text)?;
    Ok(text)
}

/// The `files` list of a multi-file torrent, with offsets, checked for unsafe and clashing
/// paths.
pub(super) fn files(node: &Node<'_>) -> Result<Vec<FileEntry>, Error> {
    let items = list(node, "info.files")?;
    if items.is_empty() {
        return Err(Error::NoFiles);
    }
    let mut offset: u64 = 0;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("info.files[{i}]");
        dict(item, &field)?;
        let length_field = format!("{field}.length");
        let length = non_negative(required(item, "length", &length_field)?, &length_field)?;
        let path = path(item, &field)?;
        let pad = match item.get("attr") {
            Some(attr) => bytes(attr, &format!("{field}.attr"))?.contains(&b'p'),
            None => false,
        };
        out.push(FileEntry {
            path,
            length,
            offset,
            pad,
        });
        offset = offset.checked_add(length).ok_or(Error::TotalOverflow(i))?;
    }
    check_distinct(&out)?;
    Ok(out)
}

/// One file's components, preferring a well-formed `path.utf-8`.
fn path(item: &Node<'_>, file_field: &str) -> Result<Vec<String>, Error> {
    let utf8: Option<Vec<String>> = item
        .get("path.utf-8")
        .and_then(Node::as_list)
        .and_then(|parts| {
            parts
                .iter()
                .map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .filter(|parts: &Vec<String>| !parts.is_empty());
    let (field, components) = match utf8 {
        Some(parts) => (format!("{file_field}.path.utf-8"), parts),
        None => {
            let field = format!("{file_field}.path");
            let parts = list(required(item, "path", &field)?, &field)?;
            let components = parts
                .iter()
                .enumerate()
                .map(|(j, p)| bytes(p, &format!("{field}[{j}]")).map(lossy))
                .collect::<Result<Vec<_>, _>>()?;
            (field, components)
        }
    };
    if components.is_empty() {
        return Err(Error::EmptyPath { field });
    }
    for c in &components {
        check_component(&field, c)?;
    }
    Ok(components)
}

/// Refuses a component that is not a plain file name (see the module docs for why).
fn check_component(field: &str, component: &str) -> Result<(), Error> {
    let reason = if component.is_empty() {
        "empty"
    } else if component == "." {
        "current folder"
    } else if component == ".." {
        "parent folder"
    } else if component.contains(['/', '\\']) {
        "contains a path separator"
    } else if component.contains('\0') {
        "contains a nul byte"
    } else if !is_single_plain_component(component) {
        "not a plain file name on this system"
    } else {
        return Ok(());
    };
    Err(Error::UnsafePath {
        field: field.to_string(),
        component: component.to_string(),
        reason,
    })
}

/// Defence in depth: whatever the platform's path rules, joining this component must add
/// exactly one ordinary name (no root, no drive prefix).
fn is_single_plain_component(component: &str) -> bool {
    let mut parts = Path::new(component).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    )
}

/// Refuses two (non-padding) files with the same path, and a file whose path is a folder on
/// another's path. Sorting puts any path right before the paths it is a prefix of, so
/// comparing neighbours finds every clash.
fn check_distinct(files: &[FileEntry]) -> Result<(), Error> {
    let mut paths: Vec<(&[String], usize)> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.pad)
        .map(|(i, f)| (f.path.as_slice(), i))
        .collect();
    paths.sort_unstable();
    for pair in paths.windows(2) {
        let [(a, i), (b, j)] = pair else { continue };
        if a == b {
            return Err(Error::DuplicatePath {
                first: *i,
                index: *j,
                path: a.join("/"),
            });
        }
        if b.starts_with(a) {
            return Err(Error::FileIsFolder {
                file: *i,
                path: a.join("/"),
                other: *j,
            });
        }
    }
    Ok(())
}
