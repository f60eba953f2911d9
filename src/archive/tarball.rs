//! The tar and gzip layers of an archive, both directions, in the one strict dialect that
//! trustkeep writes and that GNU tar reads the same way.
//!
//! Writing: plain POSIX ustar headers for regular files (name and prefix fields, no PAX, no
//! GNU extensions), two zero blocks, one gzip member with no optional header fields.
//! Reading accepts exactly that, plus the one legacy form v1 writers before it emitted: GNU
//! headers with a `././@LongLink` long-name entry in front of a long path. Everything else
//! (PAX, sparse, links, directories, base-256 sizes, bad checksums, a second gzip member,
//! bytes after it) is refused, and every size is checked against [`Limits`] before anything
//! is allocated. This module must not interpret entries: the manifest checks are in `mod.rs`.

use std::io::{self, BufRead, BufReader, Read};

use zeroize::Zeroizing;

/// The bounds a reader enforces; every one is documented in docs/archive-format.md.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most entries (files) in the tar.
    pub entries: usize,
    /// Largest total of all entries' sizes.
    pub total_bytes: u64,
    /// Longest path, in bytes (a GNU long name included).
    pub name_bytes: usize,
    /// Most bytes after the first end-of-archive block (they must all be zero).
    pub trailing_bytes: u64,
}

/// One regular file of the tar.
pub(crate) struct TarEntry {
    pub path: String,
    pub data: Zeroizing<Vec<u8>>,
}

/// A reader problem: `entry` is the path concerned when there is one.
#[derive(Debug)]
pub(crate) enum TarError {
    /// The stream is not in the accepted dialect, or is damaged; no entry is to blame.
    Corrupt(String),
    /// The entry named breaks a rule.
    Entry { entry: String, message: String },
}

const BLOCK: usize = 512;
const USTAR_MAGIC: &[u8; 8] = b"ustar\x0000";
const GNU_MAGIC: &[u8; 8] = b"ustar  \x00";
const LONG_LINK: &[u8] = b"././@LongLink";

fn corrupt(m: impl Into<String>) -> TarError {
    TarError::Corrupt(m.into())
}

fn entry_err(entry: &str, m: impl Into<String>) -> TarError {
    TarError::Entry {
        entry: entry.to_string(),
        message: m.into(),
    }
}

/// Whether `path` fits a plain ustar header (name ≤ 100 bytes after a prefix ≤ 155 bytes).
pub(crate) fn fits_ustar(path: &str) -> bool {
    tar::Header::new_ustar().set_path(path).is_ok() && path.len() <= 256
}

/// The deterministic gzip'd ustar of `files` (mode 0600, owner 0:0, the given mtime).
///
/// The tar is laid out whole in one zeroizing buffer of exactly its size (never
/// reallocated, so no copy of the plaintext is left behind) and handed to gzip in one write:
/// fed tar's 512-byte headers and paddings one by one, flate2 zeroed its 32 KiB output
/// buffer before each of them (60 times for a management cluster, 15% of a backup's
/// instructions). `capacity` sizes the compressed output.
pub(crate) fn pack(
    files: &[(&str, &[u8])],
    mtime: u64,
    capacity: usize,
) -> io::Result<Zeroizing<Vec<u8>>> {
    let size = files
        .iter()
        .map(|(_, b)| BLOCK + b.len().div_ceil(BLOCK) * BLOCK)
        .sum::<usize>()
        + 2 * BLOCK;
    let mut plain = Zeroizing::new(Vec::with_capacity(size));
    {
        let mut tar = tar::Builder::new(&mut *plain);
        for (path, bytes) in files {
            let mut h = tar::Header::new_ustar();
            if !fits_ustar(path) {
                return Err(io::Error::other(format!(
                    "path {path} does not fit a ustar header"
                )));
            }
            h.set_path(path)?;
            h.set_size(bytes.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(mtime);
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.append(&h, *bytes)?;
        }
        tar.finish()?;
    }
    debug_assert_eq!(plain.len(), size, "the tar's size was computed in advance");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::with_capacity(capacity), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &plain)?;
    Ok(Zeroizing::new(gz.finish()?))
}

/// Parses an octal header field as GNU tar does for plain octal: optional leading spaces,
/// digits, then only spaces or NULs. Base-256 and empty fields are refused.
fn octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ')?;
    let mut digits = field[start..]
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b));
    let n = digits.clone().count();
    if n == 0 || n > 21 || !field[start + n..].iter().all(|&b| b == b' ' || b == 0) {
        return None;
    }
    digits.try_fold(0u64, |acc, &d| {
        acc.checked_mul(8)?.checked_add((d - b'0') as u64)
    })
}

/// A C string field: the bytes before the first NUL.
fn cstr(field: &[u8]) -> &[u8] {
    &field[..field.iter().position(|&b| b == 0).unwrap_or(field.len())]
}

/// A checked header block.
struct Header {
    gnu: bool,
    kind: u8,
    size: u64,
    /// The path as GNU tar reads it from this header alone (prefix/name for ustar).
    name: Vec<u8>,
}

fn parse_header(b: &[u8; BLOCK]) -> Result<Header, TarError> {
    let sum: u64 = b
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if (148..156).contains(&i) {
                32
            } else {
                x as u64
            }
        })
        .sum();
    if octal(&b[148..156]) != Some(sum) {
        return Err(corrupt("a tar header's checksum is wrong"));
    }
    let magic: &[u8] = &b[257..265];
    let gnu = magic == GNU_MAGIC;
    if !gnu && magic != USTAR_MAGIC {
        return Err(corrupt(
            "a tar header is not ustar (old v7 or unknown format)",
        ));
    }
    let size =
        octal(&b[124..136]).ok_or_else(|| corrupt("a tar header's size is not plain octal"))?;
    let mut name = cstr(&b[..100]).to_vec();
    if gnu {
        // GNU headers keep atime, ctime and sparse maps where ustar has its prefix; trustkeep
        // never set them, so any byte there is refused rather than interpreted.
        if b[345..500].iter().any(|&x| x != 0) {
            return Err(corrupt(
                "a GNU tar header uses extension fields (times, sparse map)",
            ));
        }
    } else {
        let prefix = cstr(&b[345..500]);
        if !prefix.is_empty() {
            name = [prefix, b"/", &name].concat();
        }
    }
    Ok(Header {
        gnu,
        kind: b[156],
        size,
        name,
    })
}

/// Reads one block; `Ok(false)` on a clean end of stream before it.
fn read_block(r: &mut impl Read, buf: &mut [u8; BLOCK]) -> Result<bool, TarError> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(corrupt("the tar ends inside a header block")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(format!("cannot read the tar ({e})"))),
        }
    }
    Ok(true)
}

/// Checks a path: UTF-8, bounded, relative, no empty, `.` or `..` component, no trailing `/`.
fn check_path(raw: &[u8], limits: &Limits) -> Result<String, TarError> {
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(limits.name_bytes)]).into_owned();
    if raw.len() > limits.name_bytes {
        return Err(entry_err(
            &format!("{shown}…"),
            format!(
                "name is {} bytes, over the limit of {}",
                raw.len(),
                limits.name_bytes
            ),
        ));
    }
    let path = std::str::from_utf8(raw).map_err(|_| entry_err(&shown, "name is not UTF-8"))?;
    if path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(entry_err(
            path,
            "absolute path or `..` component (or an empty or `.` one); refusing to read it",
        ));
    }
    Ok(path.to_string())
}

/// The strict tar reader over a decompressed stream.
pub(crate) struct TarReader<R> {
    inner: R,
    limits: Limits,
    count: usize,
    total: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R, limits: Limits) -> Self {
        TarReader {
            inner,
            limits,
            count: 0,
            total: 0,
            done: false,
        }
    }

    /// The next regular file, at most `max_size` bytes; `None` after the end-of-archive block
    /// (and after checking that only zeros follow it).
    pub(crate) fn next_entry(&mut self, max_size: u64) -> Result<Option<TarEntry>, TarError> {
        if self.done {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK];
        if !read_block(&mut self.inner, &mut block)? {
            return Err(corrupt("the tar ends without its end-of-archive blocks"));
        }
        if block.iter().all(|&b| b == 0) {
            self.done = true;
            self.check_trailing_zeros()?;
            return Ok(None);
        }
        let mut h = parse_header(&block)?;
        let mut long_name = None;
        if h.kind == b'L' && h.gnu && h.name == LONG_LINK {
            long_name = Some(self.read_long_name(h.size)?);
            if !read_block(&mut self.inner, &mut block)? {
                return Err(corrupt("the tar ends after a GNU long-name entry"));
            }
            h = parse_header(&block)?;
            if !h.gnu {
                return Err(corrupt("a GNU long name precedes a non-GNU header"));
            }
        }
        let raw = long_name.as_deref().unwrap_or(&h.name);
        let path = check_path(raw, &self.limits)?;
        self.check_header(&h, &path, max_size)?;
        let mut data = Zeroizing::new(Vec::with_capacity(h.size as usize));
        self.read_data(h.size, &mut data)
            .map_err(|e| entry_err(&path, format!("cannot read it ({e})")))?;
        self.count += 1;
        self.total += h.size;
        Ok(Some(TarEntry { path, data }))
    }

    /// Type, count and size rules, all before any byte of the entry is read.
    fn check_header(&self, h: &Header, path: &str, max_size: u64) -> Result<(), TarError> {
        if h.kind != b'0' {
            let what = match h.kind {
                b'1' => "Link".to_string(),
                b'2' => "Symlink".to_string(),
                b'3' | b'4' => "device".to_string(),
                b'5' => "Directory".to_string(),
                b'x' | b'g' => "PAX extended header".to_string(),
                b'L' | b'K' => "GNU long-name or long-link".to_string(),
                b'S' => "GNU sparse".to_string(),
                k => format!("type {:?}", k as char),
            };
            return Err(entry_err(
                path,
                format!("is a {what} entry, not a regular file (links, devices and tar extensions are refused)"),
            ));
        }
        if self.count >= self.limits.entries {
            return Err(entry_err(
                path,
                format!("more than {} entries", self.limits.entries),
            ));
        }
        if h.size > max_size {
            return Err(entry_err(
                path,
                format!("is {} bytes, over the limit of {max_size}", h.size),
            ));
        }
        if self.total + h.size > self.limits.total_bytes {
            return Err(entry_err(
                path,
                format!(
                    "the entries add up to more than {} bytes",
                    self.limits.total_bytes
                ),
            ));
        }
        Ok(())
    }

    fn read_long_name(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        if size > self.limits.name_bytes as u64 + 1 {
            return Err(entry_err(
                "././@LongLink",
                format!(
                    "a GNU long name of {size} bytes, over the limit of {}",
                    self.limits.name_bytes
                ),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.read_data(size, &mut buf)
            .map_err(|e| corrupt(format!("cannot read a GNU long name ({e})")))?;
        Ok(cstr(&buf).to_vec())
    }

    /// Reads `size` bytes into `out`, then the padding to the next block.
    fn read_data(&mut self, size: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let got = (&mut self.inner).take(size).read_to_end(out)? as u64;
        if got != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar ends inside it",
            ));
        }
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let mut skip = [0u8; BLOCK];
        self.inner.read_exact(&mut skip[..pad as usize])
    }

    /// After the first zero block only zeros may follow, and not many.
    fn check_trailing_zeros(&mut self) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        let mut seen = 0u64;
        loop {
            let n = match self.inner.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(format!("cannot read to the end ({e})"))),
            };
            seen += n as u64;
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(corrupt(
                    "data after the tar's end-of-archive block (tar would not extract it)",
                ));
            }
            if seen > self.limits.trailing_bytes {
                return Err(corrupt(format!(
                    "more than {} bytes after the tar's end-of-archive block",
                    self.limits.trailing_bytes
                )));
            }
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

/// The gzip layer: one member whose header has no optional fields, nothing after it.
pub(crate) struct Gunzip<R: Read> {
    dec: flate2::bufread::GzDecoder<BufReader<io::Chain<io::Cursor<[u8; 10]>, R>>>,
}

impl<R: Read> Gunzip<R> {
    /// Checks the fixed 10-byte gzip header (magic, deflate, no FEXTRA/FNAME/FCOMMENT/FHCRC).
    pub(crate) fn new(mut input: R) -> Result<Self, TarError> {
        let mut head = [0u8; 10];
        input
            .read_exact(&mut head)
            .map_err(|e| corrupt(format!("not a gzip stream ({e})")))?;
        if head[..3] != [0x1f, 0x8b, 8] {
            return Err(corrupt("not a gzip stream (bad magic)"));
        }
        if head[3] != 0 {
            return Err(corrupt(
                "the gzip header carries optional fields (name, comment, extra); trustkeep never writes them",
            ));
        }
        let chained = io::Cursor::new(head).chain(input);
        Ok(Gunzip {
            dec: flate2::bufread::GzDecoder::new(BufReader::new(chained)),
        })
    }

    /// After the member ended: refuses any byte after it (a second member or garbage).
    pub(crate) fn finish(self) -> Result<(), TarError> {
        let mut rest = self.dec.into_inner();
        match rest.fill_buf() {
            Ok([]) => Ok(()),
            Ok(_) => Err(corrupt(
                "data after the gzip stream (a second member or trailing bytes)",
            )),
            Err(e) => Err(corrupt(format!("cannot read to the end ({e})"))),
        }
    }
}

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.dec.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn octal_fields_are_parsed_like_gnu_tar_or_refused() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"   644 \0"), Some(0o644));
        assert_eq!(octal(b"00000001750 "), Some(0o1750));
        assert_eq!(octal(b"\0\0\0\0"), None);
        assert_eq!(octal(b"12x4\0"), None);
        assert_eq!(octal(&[0x80, 0, 0, 0, 0, 0, 0, 1]), None, "base-256");
    }

    /// A gzip'd ustar of `files`, then `after` (raw bytes after the end blocks).
    fn tgz(files: &[(&str, &[u8])], after: &[u8]) -> Vec<u8> {
        let mut raw = pack(files, 0, 0).unwrap().to_vec();
        let mut d = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut d)
            .unwrap();
        d.extend_from_slice(after);
        raw.clear();
        let mut e = flate2::write::GzEncoder::new(raw, flate2::Compression::fast());
        std::io::Write::write_all(&mut e, &d).unwrap();
        e.finish().unwrap()
    }

    fn read_all(gz: &[u8], limits: Limits) -> Result<Vec<String>, TarError> {
        let mut r = TarReader::new(Gunzip::new(gz)?, limits);
        let mut names = Vec::new();
        while let Some(e) = r.next_entry(1024)? {
            names.push(e.path);
        }
        r.into_inner().finish()?;
        Ok(names)
    }

    const SMALL: Limits = Limits {
        entries: 2,
        total_bytes: 10,
        name_bytes: 8,
        trailing_bytes: 1024,
    };

    #[test]
    fn every_limit_is_enforced_before_reading() {
        let ok = tgz(&[("a", b"12345"), ("b", b"12345")], &[]);
        assert_eq!(read_all(&ok, SMALL).unwrap(), ["a", "b"]);
        let msg = |r: Result<Vec<String>, TarError>| format!("{:?}", r.unwrap_err());
        let three = tgz(&[("a", b""), ("b", b""), ("c", b"")], &[]);
        assert!(msg(read_all(&three, SMALL)).contains("more than 2 entries"));
        let total = tgz(&[("a", b"123456"), ("b", b"123456")], &[]);
        assert!(msg(read_all(&total, SMALL)).contains("add up to more than 10 bytes"));
        let long = tgz(&[("abcdefghi", b"")], &[]);
        assert!(msg(read_all(&long, SMALL)).contains("name is 9 bytes, over the limit of 8"));
        let big = tgz(&[("a", &[0u8; 1025])], &[]);
        assert!(msg(read_all(&big, SMALL)).contains("over the limit of 1024"));
        let zeros = tgz(&[("a", b"")], &[0u8; 4096]);
        assert!(msg(read_all(&zeros, SMALL)).contains("more than 1024 bytes after"));
        let junk = tgz(&[("a", b"")], b"x");
        assert!(msg(read_all(&junk, SMALL)).contains("data after the tar's end-of-archive block"));
    }

    #[test]
    fn only_ustar_sized_paths_fit() {
        assert!(fits_ustar("manifest.json"));
        let long = format!("secrets/{}/{}/tls.crt", "n".repeat(63), "s".repeat(80));
        assert!(fits_ustar(&long), "prefix + name");
        let too_long = format!("secrets/ns/{}", "s".repeat(253));
        assert!(!fits_ustar(&too_long));
    }
}
