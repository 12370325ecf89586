//! `mar::update::version::ReleaseVersion` against Mozilla's reference, PyPI `mozilla-version`
//! (`FirefoxVersion`): a table of real Firefox version strings goes through both, which must
//! agree on validity, on the order of every pair of one line family (releases and betas, or ESRs:
//! Kiln never orders an ESR against a release) and on the next version of each line.

use std::cmp::Ordering;
use std::process::Command;

use mar::update::version::{Line, ReleaseVersion};

/// Real Firefox versions: releases, dot releases, betas (one and two digits) and ESRs.
const REAL: [&str; 24] = [
    "119.0",
    "120.0",
    "120.0.1",
    "121.0",
    "121.0.1",
    "128.0",
    "128.0.3",
    "131.0.3",
    "132.0b1",
    "132.0b3",
    "132.0b5",
    "132.0b9",
    "132.0b10",
    "132.0",
    "132.0.1",
    "133.0b1",
    "115.0esr",
    "115.17.0esr",
    "115.18.0esr",
    "128.0esr",
    "128.0.1esr",
    "128.5.0esr",
    "128.5.1esr",
    "128.10.0esr",
];

/// Strings neither accepts.
const INVALID: [&str; 8] = [
    "121.0.0",
    "132.0b0",
    "128.5esr",
    "132.1b1",
    "121.5",
    "121",
    "abc",
    "121.0.1b1",
];

const SCRIPT: &str = r#"
import sys
from mozilla_version.gecko import FirefoxVersion as F
def parse(s):
    try:
        return F.parse(s)
    except Exception:
        return None
args = sys.argv[1:]
split = args.index("--")
real, invalid = args[:split], args[split + 1:]
for s in invalid:
    print("valid" if parse(s) else "invalid", s)
for a in real:
    va = parse(a)
    for b in real:
        vb = parse(b)
        print("cmp", a, b, "<" if va < vb else "=" if va == vb else ">")
    field = "beta_number" if va.is_beta else "patch_number"
    print("next", a, va.bump(field))
"#;

fn line_family(v: &ReleaseVersion) -> bool {
    v.line() == Line::Esr
}

#[test]
fn release_versions_agree_with_mozilla_version() {
    let out = Command::new(kiln_test_support::python_mozilla_version())
        .args(["-c", SCRIPT])
        .args(REAL)
        .arg("--")
        .args(INVALID)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (mut compared, mut nexts, mut invalid) = (0, 0, 0);
    for line in stdout.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            [verdict, s] => {
                assert_eq!(*verdict, "invalid", "mozilla-version accepts {s}");
                assert!(ReleaseVersion::parse(s).is_err(), "Kiln accepts {s}");
                invalid += 1;
            }
            ["cmp", a, b, order] => {
                let (va, vb): (ReleaseVersion, ReleaseVersion) =
                    (a.parse().unwrap(), b.parse().unwrap());
                if line_family(&va) != line_family(&vb) {
                    continue;
                }
                let expected = match *order {
                    "<" => Ordering::Less,
                    "=" => Ordering::Equal,
                    _ => Ordering::Greater,
                };
                assert_eq!(va.cmp(&vb), expected, "{a} vs {b}");
                compared += 1;
            }
            ["next", a, next] => {
                let va: ReleaseVersion = a.parse().unwrap();
                assert_eq!(va.next_version().to_string(), *next, "next of {a}");
                nexts += 1;
            }
            _ => panic!("unexpected output {line:?}"),
        }
    }
    assert_eq!(invalid, INVALID.len());
    assert_eq!(nexts, REAL.len());
    // 16 release-family and 8 ESR versions, every ordered pair of each family.
    assert_eq!(compared, 16 * 16 + 8 * 8);
}
