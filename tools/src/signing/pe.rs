//! A bounds-checked reader of the parts of a PE image that Authenticode needs: the headers, the
//! `CheckSum` field, the certificate-table data directory entry, the section table and the
//! certificate table itself (PE/COFF specification, "PE Format", Microsoft Learn).
//!
//! [`PeImage::parse`] checks every offset against the file length and [`PeLimits`] before
//! anything is read, so a malformed image is a [`PeError`], never a panic. It implements
//! `authenticode::PeTrait`, which the `authenticode` crate's digest reads.

use std::ops::Range;

use authenticode::{PeOffsetError, PeOffsets, PeTrait};

/// Bounds a reader enforces on an image, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeLimits {
    /// The largest image read, in bytes (default 1 GiB).
    pub max_image_len: u64,
    /// The most sections accepted (default 96, the Windows loader's limit).
    pub max_sections: u16,
}

impl Default for PeLimits {
    fn default() -> PeLimits {
        PeLimits {
            max_image_len: 1 << 30,
            max_sections: 96,
        }
    }
}

/// Why a file is not a PE image Kiln can sign or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeError {
    /// The file is larger than [`PeLimits::max_image_len`].
    #[error("image of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The file's length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A structure ends past the end of the file.
    #[error("truncated: the {what} needs bytes {start}..{end} but the file has {len}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Its first byte.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// The file does not start with `MZ` or has no `PE\0\0` where `e_lfanew` points.
    #[error("not a PE image: bad {0} signature")]
    BadSignature(&'static str),
    /// The optional header is neither PE32 (0x10b) nor PE32+ (0x20b).
    #[error("unknown optional header magic {0:#06x}")]
    BadMagic(u16),
    /// The optional header is too short for its magic, or has no certificate-table directory.
    #[error("optional header of {size} bytes with {directories} data directories has no certificate-table entry")]
    NoCertificateDirectory {
        /// `SizeOfOptionalHeader`.
        size: u16,
        /// `NumberOfRvaAndSizes`.
        directories: u32,
    },
    /// More sections than [`PeLimits::max_sections`].
    #[error("{count} sections exceed the limit of {limit}")]
    TooManySections {
        /// `NumberOfSections`.
        count: u16,
        /// The limit.
        limit: u16,
    },
    /// `SizeOfHeaders` is smaller than the headers or past the end of the file.
    #[error("SizeOfHeaders {size_of_headers} does not cover the headers ({headers_end} bytes) or exceeds the file")]
    BadSizeOfHeaders {
        /// `SizeOfHeaders`.
        size_of_headers: u64,
        /// Where the section table ends.
        headers_end: u64,
    },
    /// The certificate table is misplaced: not 8-byte aligned, overlapping the headers or a
    /// section, or not at the end of the file.
    #[error("certificate table at {start}..{end} is invalid: {reason}")]
    BadCertificateTable {
        /// Its file offset.
        start: u64,
        /// One past its end.
        end: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A parsed PE image: the file's bytes and the offsets Authenticode needs, all checked.
#[derive(Debug, Clone)]
pub struct PeImage<'a> {
    data: &'a [u8],
    offsets: PeOffsets,
    sections: Vec<Range<usize>>,
    certificate_table: Option<Range<usize>>,
}

fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Checks that `start..start+len` is inside a file of `file_len` bytes.
fn need(what: &'static str, start: u64, len: u64, file_len: u64) -> Result<Range<usize>, PeError> {
    let end = start.saturating_add(len);
    if end > file_len {
        return Err(PeError::Truncated {
            what,
            start,
            end,
            len: file_len,
        });
    }
    Ok(start as usize..end as usize)
}

impl<'a> PeImage<'a> {
    /// Parses `data` within the default [`PeLimits`].
    pub fn parse(data: &'a [u8]) -> Result<PeImage<'a>, PeError> {
        PeImage::parse_with(data, &PeLimits::default())
    }

    /// Parses `data`, refusing anything outside `limits`.
    pub fn parse_with(data: &'a [u8], limits: &PeLimits) -> Result<PeImage<'a>, PeError> {
        let len = data.len() as u64;
        if len > limits.max_image_len {
            return Err(PeError::TooLarge {
                len,
                limit: limits.max_image_len,
            });
        }
        need("DOS header", 0, 64, len)?;
        if &data[..2] != b"MZ" {
            return Err(PeError::BadSignature("MZ"));
        }
        let pe = u64::from(read_u32(data, 0x3c));
        // PE signature + COFF file header.
        let coff = need("PE and COFF headers", pe, 24, len)?.start + 4;
        if &data[coff - 4..coff] != b"PE\0\0" {
            return Err(PeError::BadSignature("PE"));
        }
        let section_count = read_u16(data, coff + 2);
        if section_count > limits.max_sections {
            return Err(PeError::TooManySections {
                count: section_count,
                limit: limits.max_sections,
            });
        }
        let optional_size = read_u16(data, coff + 16);
        let opt = coff + 20;
        let optional = need("optional header", opt as u64, u64::from(optional_size), len)?;
        if optional_size < 2 {
            return Err(PeError::BadMagic(0));
        }
        // Where the data directories start and how many there are, by magic.
        let (count_at, directories_at) = match read_u16(data, opt) {
            0x10b => (92, 96),
            0x20b => (108, 112),
            magic => return Err(PeError::BadMagic(magic)),
        };
        let no_directory = |directories| PeError::NoCertificateDirectory {
            size: optional_size,
            directories,
        };
        if usize::from(optional_size) < count_at + 4 {
            return Err(no_directory(0));
        }
        let directories = read_u32(data, opt + count_at);
        let security = opt + directories_at + 4 * 8;
        if directories < 5 || security + 8 > optional.end {
            return Err(no_directory(directories));
        }
        let check_sum = opt + 64;

        let table = need(
            "section table",
            optional.end as u64,
            40 * u64::from(section_count),
            len,
        )?;
        let size_of_headers = u64::from(read_u32(data, opt + 60));
        if size_of_headers < table.end as u64 || size_of_headers > len {
            return Err(PeError::BadSizeOfHeaders {
                size_of_headers,
                headers_end: table.end as u64,
            });
        }
        let mut sections = Vec::with_capacity(usize::from(section_count));
        for header in table.clone().step_by(40) {
            let size = u64::from(read_u32(data, header + 16));
            let start = u64::from(read_u32(data, header + 20));
            if size > 0 {
                sections.push(need("section data", start, size, len)?);
            }
        }

        let cert_start = u64::from(read_u32(data, security));
        let cert_size = u64::from(read_u32(data, security + 4));
        let certificate_table = if cert_size == 0 {
            None
        } else {
            let range = need("certificate table", cert_start, cert_size, len)?;
            let bad = |reason| PeError::BadCertificateTable {
                start: cert_start,
                end: cert_start + cert_size,
                reason,
            };
            if cert_start % 8 != 0 {
                return Err(bad("not 8-byte aligned"));
            }
            if cert_start < size_of_headers || sections.iter().any(|s| s.end as u64 > cert_start) {
                return Err(bad("overlaps the headers or a section"));
            }
            if range.end as u64 != len {
                return Err(bad("not at the end of the file"));
            }
            Some(range)
        };
        Ok(PeImage {
            data,
            offsets: PeOffsets {
                check_sum,
                after_check_sum: check_sum + 4,
                security_data_dir: security,
                after_security_data_dir: security + 8,
                after_header: size_of_headers as usize,
            },
            sections,
            certificate_table,
        })
    }

    /// The offset of the optional header's `CheckSum` field.
    pub fn checksum_offset(&self) -> usize {
        self.offsets.check_sum
    }

    /// The offset of the certificate-table data directory entry (8 bytes: offset, size).
    pub fn certificate_directory_offset(&self) -> usize {
        self.offsets.security_data_dir
    }

    /// The certificate table's byte range, if the image has one.
    pub fn certificate_table(&self) -> Option<Range<usize>> {
        self.certificate_table.clone()
    }

    /// The image's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }
}

impl PeTrait for PeImage<'_> {
    fn data(&self) -> &[u8] {
        self.data
    }

    fn num_sections(&self) -> usize {
        self.sections.len()
    }

    fn section_data_range(&self, index: usize) -> Result<Range<usize>, PeOffsetError> {
        index
            .checked_sub(1)
            .and_then(|i| self.sections.get(i))
            .cloned()
            .ok_or(PeOffsetError)
    }

    fn certificate_table_range(&self) -> Result<Option<Range<usize>>, PeOffsetError> {
        Ok(self.certificate_table.clone())
    }

    fn offsets(&self) -> Result<PeOffsets, PeOffsetError> {
        Ok(self.offsets.clone())
    }
}
