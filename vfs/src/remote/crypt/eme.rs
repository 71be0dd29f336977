//! EME (ECB-Mix-ECB, Halevi and Rogaway, "A Parallelizable Enciphering Mode", 2003): a wide-block
//! mode over AES that enciphers a whole name at once, so that equal names encrypt equally and
//! names sharing a beginning share nothing once encrypted. rclone enciphers each path segment this
//! way (over AES-256, with a 16-byte tweak from the key derivation); this follows the paper's
//! EME-32 draft as rclone's Go library does, and is checked against names rclone encrypted.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes256;

pub(crate) const BLOCK: usize = 16;
/// EME takes 1 to 127 blocks: its multipliers 2^j must stay distinct.
pub(crate) const MAX_BLOCKS: usize = BLOCK * 8 - 1;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Encrypt,
    Decrypt,
}

/// One AES-256 key and EME's tweak.
pub(crate) struct Eme {
    aes: Aes256,
    tweak: [u8; BLOCK],
}

/// Multiplication by 2 in GF(2^128), blocks read little-endian, as the EME-32 draft has it.
fn double(b: &mut [u8; BLOCK]) {
    let carry = b[BLOCK - 1] >> 7;
    for j in (1..BLOCK).rev() {
        b[j] = (b[j] << 1) | (b[j - 1] >> 7);
    }
    b[0] = (b[0] << 1) ^ (carry * 135);
}

fn xor(a: &mut [u8; BLOCK], b: &[u8; BLOCK]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
}

impl Eme {
    pub(crate) fn new(key: &[u8; 32], tweak: [u8; BLOCK]) -> Eme {
        Eme {
            aes: Aes256::new(key.into()),
            tweak,
        }
    }

    fn cipher(&self, dir: Direction, b: &mut [u8; BLOCK]) {
        match dir {
            Direction::Encrypt => self.aes.encrypt_block(b.into()),
            Direction::Decrypt => self.aes.decrypt_block(b.into()),
        }
    }

    /// Enciphers or deciphers `data` in place; `None` unless it is 1 to 127 whole blocks.
    pub(crate) fn transform(&self, data: &mut [u8], dir: Direction) -> Option<()> {
        let m = data.len() / BLOCK;
        if !data.len().is_multiple_of(BLOCK) || m == 0 || m > MAX_BLOCKS {
            return None;
        }
        let mut blocks: Vec<[u8; BLOCK]> = data
            .chunks_exact(BLOCK)
            .map(|c| c.try_into().unwrap_or([0; BLOCK]))
            .collect();
        // L = 2·E(0), always with the forward cipher.
        let mut l0 = [0u8; BLOCK];
        self.aes.encrypt_block((&mut l0).into());
        double(&mut l0);

        // First ECB pass: PPP_j = E(P_j ⊕ 2^j·L).
        let mut l = l0;
        for b in blocks.iter_mut() {
            xor(b, &l);
            self.cipher(dir, b);
            double(&mut l);
        }
        // The mix: MP = T ⊕ ⊕PPP_j, MC = E(MP), M = MP ⊕ MC.
        let mut mp = self.tweak;
        blocks.iter().for_each(|b| xor(&mut mp, b));
        let mut mc = mp;
        self.cipher(dir, &mut mc);
        let mut m_ = mp;
        xor(&mut m_, &mc);
        for b in blocks.iter_mut().skip(1) {
            double(&mut m_);
            xor(b, &m_);
        }
        let mut first = mc;
        xor(&mut first, &self.tweak);
        blocks.iter().skip(1).for_each(|b| xor(&mut first, b));
        blocks[0] = first;

        // Second ECB pass: C_j = E(CCC_j) ⊕ 2^j·L.
        let mut l = l0;
        for b in blocks.iter_mut() {
            self.cipher(dir, b);
            xor(b, &l);
            double(&mut l);
        }
        for (out, b) in data.chunks_exact_mut(BLOCK).zip(&blocks) {
            out.copy_from_slice(b);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_carries_across_bytes_and_reduces() {
        let mut b = [0u8; BLOCK];
        b[0] = 0x80;
        double(&mut b);
        assert_eq!((b[0], b[1]), (0, 1));
        let mut b = [0u8; BLOCK];
        b[BLOCK - 1] = 0x80;
        double(&mut b);
        assert_eq!(b[0], 135);
        assert!(b[1..].iter().all(|&x| x == 0));
    }

    #[test]
    fn round_trips_and_refuses_bad_lengths() {
        let eme = Eme::new(&[7; 32], [3; BLOCK]);
        for m in [1, 2, 5, MAX_BLOCKS] {
            let plain: Vec<u8> = (0..m * BLOCK).map(|i| i as u8).collect();
            let mut data = plain.clone();
            eme.transform(&mut data, Direction::Encrypt).unwrap();
            assert_ne!(data, plain);
            eme.transform(&mut data, Direction::Decrypt).unwrap();
            assert_eq!(data, plain);
        }
        assert!(eme.transform(&mut [], Direction::Encrypt).is_none());
        assert!(eme.transform(&mut [0; 17], Direction::Encrypt).is_none());
        let mut too_long = vec![0; (MAX_BLOCKS + 1) * BLOCK];
        assert!(eme.transform(&mut too_long, Direction::Encrypt).is_none());
    }
}
