//! The `updatev3.manifest` format: a typed parser and a writer (`docs/mar-format.md` B2.2).
//!
//! Every instruction of Mozilla's updater is supported. Paths follow `get_valid_path`: no leading
//! `/`, no `..` anywhere, and directory arguments end in `/` (stripped in the typed form). Comment
//! lines (`#`) and blank lines are skipped, and lines may end in `\n`, `\r\n` or `\r`. Arguments sit
//! in double quotes with no escaping, so a path can never contain `"`.

use std::fmt;

use crate::entry_path::{EntryPath, EntryPathError};

/// What kind of update a manifest describes (`type "complete"` / `type "partial"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// Replaces the whole install; the installed `precomplete` removals run first.
    Complete,
    /// Patches an install of one known version.
    Partial,
}

impl UpdateKind {
    /// The word used in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateKind::Complete => "complete",
            UpdateKind::Partial => "partial",
        }
    }
}

/// A directory argument (`rmdir "d/"`): a validated path, stored without its trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirPath(EntryPath);

impl DirPath {
    /// Wraps a validated path as a directory.
    pub fn new(path: EntryPath) -> DirPath {
        DirPath(path)
    }

    /// The directory without its trailing `/`.
    pub fn path(&self) -> &EntryPath {
        &self.0
    }
}

impl fmt::Display for DirPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.0)
    }
}

/// One manifest instruction. Every path in it is guaranteed valid by Mozilla's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// `type "complete"` or `type "partial"`; honoured only as the first instruction.
    Type(UpdateKind),
    /// `add "f"`: extract entry `f` to `f`.
    Add {
        /// Entry name and install path.
        file: EntryPath,
    },
    /// `add-if "test" "f"`: add only if `test` exists.
    AddIf {
        /// The path whose existence is tested (a trailing `/` is stripped).
        test: EntryPath,
        /// Entry name and install path.
        file: EntryPath,
    },
    /// `add-if-not "test" "f"`: add only if `test` does not exist.
    AddIfNot {
        /// The path whose absence is tested.
        test: EntryPath,
        /// Entry name and install path.
        file: EntryPath,
    },
    /// `patch "p" "f"`: apply patch entry `p` to the existing file `f`.
    Patch {
        /// The MAR entry holding the patch.
        patch: EntryPath,
        /// The install path patched.
        file: EntryPath,
    },
    /// `patch-if "test" "p" "f"`: patch only if `test` exists.
    PatchIf {
        /// The path whose existence is tested.
        test: EntryPath,
        /// The MAR entry holding the patch.
        patch: EntryPath,
        /// The install path patched.
        file: EntryPath,
    },
    /// `remove "f"`: delete a file (skipped if missing).
    Remove {
        /// The install path removed.
        file: EntryPath,
    },
    /// `rmdir "d/"`: remove a directory if empty, after a successful update.
    Rmdir {
        /// The directory.
        dir: DirPath,
    },
    /// `rmrfdir "d/"`: remove every file and directory under `d/`.
    Rmrfdir {
        /// The directory.
        dir: DirPath,
    },
}

impl Instruction {
    fn keyword(&self) -> &'static str {
        match self {
            Instruction::Type(_) => "type",
            Instruction::Add { .. } => "add",
            Instruction::AddIf { .. } => "add-if",
            Instruction::AddIfNot { .. } => "add-if-not",
            Instruction::Patch { .. } => "patch",
            Instruction::PatchIf { .. } => "patch-if",
            Instruction::Remove { .. } => "remove",
            Instruction::Rmdir { .. } => "rmdir",
            Instruction::Rmrfdir { .. } => "rmrfdir",
        }
    }
}

impl fmt::Display for Instruction {
    /// The instruction as one manifest line, without the line ending.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.keyword())?;
        match self {
            Instruction::Type(kind) => write!(f, " \"{}\"", kind.as_str()),
            Instruction::Add { file } | Instruction::Remove { file } => write!(f, " \"{file}\""),
            Instruction::AddIf { test, file } | Instruction::AddIfNot { test, file } => {
                write!(f, " \"{test}\" \"{file}\"")
            }
            Instruction::Patch { patch, file } => write!(f, " \"{patch}\" \"{file}\""),
            Instruction::PatchIf { test, patch, file } => {
                write!(f, " \"{test}\" \"{patch}\" \"{file}\"")
            }
            Instruction::Rmdir { dir } | Instruction::Rmrfdir { dir } => write!(f, " \"{dir}\""),
        }
    }
}

/// Why a manifest line was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestErrorKind {
    /// The manifest is not UTF-8.
    #[error("manifest is not valid UTF-8")]
    NotUtf8,
    /// The first word is not an instruction.
    #[error("unknown instruction {0:?}")]
    UnknownInstruction(String),
    /// An instruction has the wrong number of arguments.
    #[error("{instruction} takes {expected} quoted argument(s), found {found}")]
    ArgumentCount {
        /// The instruction.
        instruction: &'static str,
        /// How many it takes.
        expected: usize,
        /// How many the line has.
        found: usize,
    },
    /// Text outside double quotes, or an unterminated quote.
    #[error("arguments must be double-quoted and separated by spaces")]
    BadQuoting,
    /// A path breaks Mozilla's rules.
    #[error("path {path:?} {reason}")]
    BadPath {
        /// The path as written.
        path: String,
        /// Why it is rejected.
        reason: EntryPathError,
    },
    /// A directory argument lacks its trailing `/`.
    #[error("directory {0:?} must end in '/'")]
    DirWithoutSlash(String),
    /// A file argument ends in `/`.
    #[error("file {0:?} must not end in '/'")]
    FileWithSlash(String),
    /// `type` with a value other than `complete` or `partial`.
    #[error("unknown update type {0:?}")]
    UnknownType(String),
    /// `type` anywhere but the first instruction.
    #[error("type must be the first instruction")]
    TypeNotFirst,
    /// The manifest has no instruction at all (Firefox's error 1).
    #[error("manifest has no instructions")]
    Empty,
}

/// A manifest parse error with the 1-based line it was found on (0 for whole-file errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("manifest line {line}: {kind}")]
pub struct ManifestError {
    /// The 1-based line number, 0 when the error concerns the whole manifest.
    pub line: usize,
    /// What is wrong.
    pub kind: ManifestErrorKind,
}

/// A parsed `updatev3.manifest` (or `precomplete`): instructions in file order.
///
/// Every `Manifest` is guaranteed to hold at most one `type` instruction, and only first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    instructions: Vec<Instruction>,
}

impl Manifest {
    /// Builds a manifest from instructions, checking that `type` appears only first.
    pub fn new(instructions: Vec<Instruction>) -> Result<Manifest, ManifestError> {
        if let Some(pos) = instructions
            .iter()
            .skip(1)
            .position(|i| matches!(i, Instruction::Type(_)))
        {
            return Err(ManifestError {
                line: pos + 2,
                kind: ManifestErrorKind::TypeNotFirst,
            });
        }
        Ok(Manifest { instructions })
    }

    /// Parses manifest bytes. Empty manifests are an error ([`ManifestErrorKind::Empty`]).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest = Manifest::parse_lines(bytes, false)?;
        if manifest.instructions.is_empty() {
            return Err(ManifestError {
                line: 0,
                kind: ManifestErrorKind::Empty,
            });
        }
        Ok(manifest)
    }

    /// Parses a `precomplete` file: like a manifest, but `remove-cc` lines are accepted and
    /// ignored, and an empty file is fine.
    pub fn parse_precomplete(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::parse_lines(bytes, true)
    }

    fn parse_lines(bytes: &[u8], precomplete: bool) -> Result<Manifest, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError {
            line: 0,
            kind: ManifestErrorKind::NotUtf8,
        })?;
        let mut instructions = Vec::new();
        for (index, line) in split_lines(text) {
            let line_no = index + 1;
            let trimmed = line.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let at = |kind| ManifestError {
                line: line_no,
                kind,
            };
            let keyword_end = trimmed.find([' ', '\t']).unwrap_or(trimmed.len());
            let keyword = &trimmed[..keyword_end];
            if precomplete && keyword == "remove-cc" {
                continue;
            }
            let args = quoted_args(&trimmed[keyword_end..]).map_err(at)?;
            let instruction = parse_instruction(keyword, &args).map_err(at)?;
            if matches!(instruction, Instruction::Type(_)) && !instructions.is_empty() {
                return Err(at(ManifestErrorKind::TypeNotFirst));
            }
            instructions.push(instruction);
        }
        Ok(Manifest { instructions })
    }

    /// The instructions in order.
    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// The declared update kind, if the first instruction is `type`.
    pub fn kind(&self) -> Option<UpdateKind> {
        match self.instructions.first() {
            Some(Instruction::Type(kind)) => Some(*kind),
            _ => None,
        }
    }

    /// The manifest text, one instruction per `\n`-terminated line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for instruction in &self.instructions {
            out.push_str(&instruction.to_string());
            out.push('\n');
        }
        out
    }
}

/// Splits on `\n`, `\r\n` and `\r`, yielding (0-based line index, line).
fn split_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        lines.push(&rest[..end]);
        let mut next = end;
        if rest[next..].starts_with("\r\n") {
            next += 2;
        } else if next < rest.len() {
            next += 1;
        }
        rest = &rest[next..];
    }
    lines.into_iter().enumerate()
}

/// Splits `"a" "b"` into its quoted arguments; anything but blanks outside quotes is an error.
fn quoted_args(mut rest: &str) -> Result<Vec<&str>, ManifestErrorKind> {
    let mut args = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Ok(args);
        }
        let Some(after_quote) = rest.strip_prefix('"') else {
            return Err(ManifestErrorKind::BadQuoting);
        };
        let end = after_quote.find('"').ok_or(ManifestErrorKind::BadQuoting)?;
        args.push(&after_quote[..end]);
        rest = &after_quote[end + 1..];
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            return Err(ManifestErrorKind::BadQuoting);
        }
    }
}

fn parse_instruction(keyword: &str, args: &[&str]) -> Result<Instruction, ManifestErrorKind> {
    let (name, expected): (&'static str, usize) = match keyword {
        "type" => ("type", 1),
        "add" => ("add", 1),
        "add-if" => ("add-if", 2),
        "add-if-not" => ("add-if-not", 2),
        "patch" => ("patch", 2),
        "patch-if" => ("patch-if", 3),
        "remove" => ("remove", 1),
        "rmdir" => ("rmdir", 1),
        "rmrfdir" => ("rmrfdir", 1),
        other => return Err(ManifestErrorKind::UnknownInstruction(other.to_owned())),
    };
    if args.len() != expected {
        return Err(ManifestErrorKind::ArgumentCount {
            instruction: name,
            expected,
            found: args.len(),
        });
    }
    Ok(match name {
        "type" => Instruction::Type(match args[0] {
            "complete" => UpdateKind::Complete,
            "partial" => UpdateKind::Partial,
            other => return Err(ManifestErrorKind::UnknownType(other.to_owned())),
        }),
        "add" => Instruction::Add {
            file: file_path(args[0])?,
        },
        "add-if" => Instruction::AddIf {
            test: test_path(args[0])?,
            file: file_path(args[1])?,
        },
        "add-if-not" => Instruction::AddIfNot {
            test: test_path(args[0])?,
            file: file_path(args[1])?,
        },
        "patch" => Instruction::Patch {
            patch: entry_name(args[0])?,
            file: file_path(args[1])?,
        },
        "patch-if" => Instruction::PatchIf {
            test: test_path(args[0])?,
            patch: entry_name(args[1])?,
            file: file_path(args[2])?,
        },
        "remove" => Instruction::Remove {
            file: file_path(args[0])?,
        },
        "rmdir" => Instruction::Rmdir {
            dir: dir_path(args[0])?,
        },
        _ => Instruction::Rmrfdir {
            dir: dir_path(args[0])?,
        },
    })
}

fn validated(path: &str) -> Result<EntryPath, ManifestErrorKind> {
    EntryPath::new(path).map_err(|reason| ManifestErrorKind::BadPath {
        path: path.to_owned(),
        reason,
    })
}

/// A patch entry name: only looked up in the archive, but it must still be a valid entry name.
fn entry_name(path: &str) -> Result<EntryPath, ManifestErrorKind> {
    validated(path)
}

fn file_path(path: &str) -> Result<EntryPath, ManifestErrorKind> {
    if path.ends_with('/') && path.len() > 1 {
        return Err(ManifestErrorKind::FileWithSlash(path.to_owned()));
    }
    validated(path)
}

fn test_path(path: &str) -> Result<EntryPath, ManifestErrorKind> {
    match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() && !stripped.ends_with('/') => validated(stripped),
        _ => validated(path),
    }
}

fn dir_path(path: &str) -> Result<DirPath, ManifestErrorKind> {
    match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => Ok(DirPath(validated(stripped)?)),
        _ if path.starts_with('/') => Err(ManifestErrorKind::BadPath {
            path: path.to_owned(),
            reason: EntryPathError::Absolute,
        }),
        _ => Err(ManifestErrorKind::DirWithoutSlash(path.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> EntryPath {
        EntryPath::new(s).unwrap()
    }

    fn err(text: &str) -> ManifestError {
        Manifest::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_every_instruction_and_round_trips() {
        let text = "type \"partial\"\n\
                    add \"a/b.txt\"\n\
                    add-if \"distribution/extensions/x@y/\" \"distribution/extensions/x@y/a.js\"\n\
                    add-if-not \"update-settings.ini\" \"update-settings.ini\"\n\
                    patch \"libxul.so.patch\" \"libxul.so\"\n\
                    patch-if \"dist/a\" \"dist/a/b.patch\" \"dist/a/b\"\n\
                    remove \"old.txt\"\n\
                    rmdir \"old/\"\n\
                    rmrfdir \"cache/\"\n";
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(manifest.kind(), Some(UpdateKind::Partial));
        assert_eq!(manifest.instructions().len(), 9);
        assert_eq!(
            manifest.instructions()[2],
            Instruction::AddIf {
                test: p("distribution/extensions/x@y"),
                file: p("distribution/extensions/x@y/a.js")
            }
        );
        let again = Manifest::parse(manifest.to_text().as_bytes()).unwrap();
        assert_eq!(again, manifest);
        assert_eq!(
            manifest.to_text().replace("x@y/\"", "x@y\""),
            text.replace("x@y/\"", "x@y\"")
        );
    }

    #[test]
    fn skips_comments_blank_lines_and_accepts_crlf() {
        let text = "# comment\r\n\r\ntype \"complete\"\r\n  # indented comment\radd \"a\"\r\n\n";
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(
            manifest.instructions(),
            &[
                Instruction::Type(UpdateKind::Complete),
                Instruction::Add { file: p("a") }
            ]
        );
    }

    #[test]
    fn reports_errors_with_line_numbers() {
        let cases: Vec<(&str, usize, ManifestErrorKind)> = vec![
            (
                "type \"complete\"\nfrobnicate \"a\"",
                2,
                ManifestErrorKind::UnknownInstruction("frobnicate".into()),
            ),
            (
                "add \"a\" \"b\"",
                1,
                ManifestErrorKind::ArgumentCount {
                    instruction: "add",
                    expected: 1,
                    found: 2,
                },
            ),
            ("\n\nadd a", 3, ManifestErrorKind::BadQuoting),
            ("add \"a", 1, ManifestErrorKind::BadQuoting),
            ("add \"a\"x", 1, ManifestErrorKind::BadQuoting),
            (
                "add \"/etc/passwd\"",
                1,
                ManifestErrorKind::BadPath {
                    path: "/etc/passwd".into(),
                    reason: EntryPathError::Absolute,
                },
            ),
            (
                "remove \"a..b\"",
                1,
                ManifestErrorKind::BadPath {
                    path: "a..b".into(),
                    reason: EntryPathError::DotDot,
                },
            ),
            (
                "rmdir \"dir\"",
                1,
                ManifestErrorKind::DirWithoutSlash("dir".into()),
            ),
            (
                "rmrfdir \"dir\"",
                1,
                ManifestErrorKind::DirWithoutSlash("dir".into()),
            ),
            (
                "add \"dir/\"",
                1,
                ManifestErrorKind::FileWithSlash("dir/".into()),
            ),
            (
                "type \"full\"",
                1,
                ManifestErrorKind::UnknownType("full".into()),
            ),
            (
                "add \"a\"\ntype \"partial\"",
                2,
                ManifestErrorKind::TypeNotFirst,
            ),
            ("# only a comment\n", 0, ManifestErrorKind::Empty),
        ];
        for (text, line, kind) in cases {
            assert_eq!(err(text), ManifestError { line, kind }, "{text:?}");
        }
        assert_eq!(
            Manifest::parse(&[0xff]).unwrap_err().kind,
            ManifestErrorKind::NotUtf8
        );
    }

    #[test]
    fn precomplete_ignores_remove_cc_and_may_be_empty() {
        let m = Manifest::parse_precomplete(b"remove-cc \"x\"\nremove \"a\"\n").unwrap();
        assert_eq!(m.instructions(), &[Instruction::Remove { file: p("a") }]);
        assert!(Manifest::parse_precomplete(b"")
            .unwrap()
            .instructions()
            .is_empty());
        assert!(Manifest::parse(b"remove-cc \"x\"").is_err());
    }

    #[test]
    fn parses_the_mozilla_fixture_manifests() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/mar/update");
        for name in [
            "complete.updatev3.manifest.txt",
            "partial.updatev3.manifest.txt",
        ] {
            let text = std::fs::read(dir.join(name)).unwrap();
            let m = Manifest::parse(&text).unwrap();
            assert!(m.kind().is_some());
        }
    }
}
