//! A level's candidates: per candidate a fingerprint and a parent link
//! (16 bytes), and one winner bit. Within an allowance of memory per
//! level the two arrays of a batch stay in memory; past it they are
//! appended to one file per level (`cands-{depth}.bin`: the batch's
//! fingerprints, then its links, little endian) and read back, in
//! frontier order, where they are used: by every thread of the insertion
//! phase (fingerprints only) and by the numbering of the winners. Each
//! half of a spilled batch has its XXH3-64 sum in memory, checked on
//! every read: a truncated or changed file is an error naming it, never a
//! candidate read wrong. The winner flags stay in memory as a bitmap (one
//! bit per candidate), so a spilled candidate costs an eighth of a byte of
//! memory instead of 17 bytes (`docs/storage.md`).

pub use super::cand_spill::Scratch;
use super::cand_spill::{read_words, Arrays};
use super::frontier::{Segment, Spill};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Candidates being collected: parallel vectors and the encoded states.
#[derive(Default)]
pub struct Cands {
    pub fps: Vec<u64>,
    pub links: Vec<u64>,
    pub bytes: Vec<u8>,
}

/// Candidates, with a bit per candidate that the insertion phase sets
/// when it is the first of its fingerprint. `seg` holds their records,
/// unless they did not fit the frontier's memory (unsharded): then the
/// winners' records are regenerated from their parents (`regen.rs`).
pub struct Batch {
    n: usize,
    arrays: Arrays,
    won: Vec<AtomicU64>,
    pub seg: Option<Segment>,
}

impl Batch {
    /// Keeps `c`'s states through the spill: in memory within its budget,
    /// past it on disk, or, when `regen` (unsharded: the parents stay at
    /// hand) and the level's candidates have used their disk allowance
    /// (`frontier::CANDIDATE_DISK`), not at all. Unsharded, its arrays go
    /// to disk past the level's allowance for them; sharded, they stay in
    /// memory (the exchange between shards reads them).
    pub fn keep(c: Cands, spill: &Spill, regen: bool) -> std::io::Result<Batch> {
        let n = c.fps.len();
        let seg = if regen { spill.keep_candidates(n, c.bytes)? } else { Some(spill.keep(0, n, c.bytes)?) };
        let arrays = if regen { spill.cands.keep(c.fps, c.links)? } else { Arrays::Mem { fps: c.fps, links: c.links } };
        Ok(Batch { n, arrays, won: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(), seg })
    }

    /// Candidates in the batch.
    pub fn len(&self) -> usize {
        self.n
    }

    /// The candidates' fingerprints, in order (read into `s` if spilled).
    pub fn fps<'a>(&'a self, s: &'a mut Scratch) -> std::io::Result<&'a [u64]> {
        match &self.arrays {
            Arrays::Mem { fps, .. } => Ok(fps),
            Arrays::Disk { file, off, fps_sum, .. } => {
                read_words(file, *off, self.n, *fps_sum, s)?;
                Ok(&s.words)
            }
        }
    }

    /// The candidates' parent links, in order (read into `s` if spilled).
    pub fn links<'a>(&'a self, s: &'a mut Scratch) -> std::io::Result<&'a [u64]> {
        match &self.arrays {
            Arrays::Mem { links, .. } => Ok(links),
            Arrays::Disk { file, off, links_sum, .. } => {
                read_words(file, off + 8 * self.n as u64, self.n, *links_sum, s)?;
                Ok(&s.words)
            }
        }
    }

    /// Both arrays, owned, and the records.
    pub fn into_parts(self) -> std::io::Result<(Vec<u64>, Vec<u64>, Option<Segment>)> {
        let Batch { n, arrays, seg, .. } = self;
        match arrays {
            Arrays::Mem { fps, links } => Ok((fps, links, seg)),
            Arrays::Disk { file, off, fps_sum, links_sum } => {
                let mut s = Scratch::default();
                read_words(&file, off, n, fps_sum, &mut s)?;
                let fps = std::mem::take(&mut s.words);
                read_words(&file, off + 8 * n as u64, n, links_sum, &mut s)?;
                Ok((fps, s.words, seg))
            }
        }
    }

    /// Marks candidate `k` the first of its fingerprint.
    pub fn win(&self, k: usize) {
        self.won[k / 64].fetch_or(1 << (k % 64), Relaxed);
    }

    /// Whether each candidate won, in order.
    pub fn won(&self) -> Vec<bool> {
        (0..self.n).map(|k| self.won[k / 64].load(Relaxed) >> (k % 64) & 1 == 1).collect()
    }

    /// Candidates that won.
    pub fn wins(&self) -> u64 {
        self.won.iter().map(|w| u64::from(w.load(Relaxed).count_ones())).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::cand_spill::CandSpill;
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    /// A batch whose arrays spilled reads back its fingerprints and links;
    /// after its file is truncated, or one byte of either array is
    /// changed, reading it is one `InvalidData` line naming the file,
    /// never an array read wrong. (A few milliseconds.)
    #[test]
    fn a_truncated_or_changed_candidate_file_is_a_clean_error() {
        let dir = std::env::temp_dir().join(format!("rmapcheck-cands-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fps: Vec<u64> = (0..300u64).map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        let links: Vec<u64> = (0..300u64).map(|k| k << 16 | 3).collect();
        for (damage, says) in [("none", ""), ("fp", "is corrupt"), ("link", "is corrupt"), ("truncate", "is truncated")]
        {
            let mut cs = CandSpill::new(&dir, 16 * 100); // room for one batch of 100
            cs.level(4);
            let kept = cs.keep(fps[..100].to_vec(), links[..100].to_vec()).unwrap();
            assert!(matches!(kept, Arrays::Mem { .. }), "the first batch fits the allowance");
            let spilled = cs.keep(fps[100..].to_vec(), links[100..].to_vec()).unwrap();
            let path = dir.join("cands-4.bin");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 * 200);
            assert_eq!(cs.written.load(Relaxed), 16 * 200);
            let won = (0..200usize.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
            let b = Batch { n: 200, arrays: spilled, won, seg: None };
            let file = File::options().read(true).write(true).open(&path).unwrap();
            let flip = |at: u64| {
                let mut byte = [0u8];
                file.read_exact_at(&mut byte, at).unwrap();
                file.write_all_at(&[byte[0] ^ 0x20], at).unwrap();
            };
            match damage {
                "fp" => flip(8 * 150 + 2),
                "link" => flip(8 * 350 + 1),
                "truncate" => file.set_len(16 * 200 - 5).unwrap(),
                _ => {}
            }
            let mut s = Scratch::default();
            if damage == "none" {
                assert_eq!(b.fps(&mut s).unwrap(), &fps[100..]);
                assert_eq!(b.links(&mut s).unwrap(), &links[100..]);
                b.win(3);
                b.win(130);
                assert_eq!((b.wins(), b.won()[130], b.won()[131]), (2, true, false));
                continue;
            }
            let e = if damage == "fp" { b.fps(&mut s).map(|_| ()) } else { b.links(&mut s).map(|_| ()) };
            let e = e.expect_err(damage);
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()) && msg.contains(says) && !msg.contains('\n'), "{msg}");
            assert!(b.into_parts().is_err(), "{damage}: the arrays were handed on");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
