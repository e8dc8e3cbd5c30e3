//! Signatures with torsion: public keys `A = a·B + T_A` and nonces
//! `R = r·B + T_R`, `T` one of the eight points of small order. They are
//! what a hostile signer would use to make replicas disagree: valid under
//! the cofactored equation (ZIP-215), and valid under the cofactorless one
//! only when the torsion terms happen to cancel.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

/// A deterministic stream of scalars and choices from a seed.
pub struct Rng {
    seed: [u8; 32],
    n: u64,
}

impl Rng {
    pub fn new(seed: [u8; 32]) -> Self {
        Rng { seed, n: 0 }
    }

    fn wide(&mut self) -> [u8; 64] {
        self.n += 1;
        let mut h = Sha512::new();
        h.update(self.seed);
        h.update(self.n.to_le_bytes());
        h.finalize().into()
    }

    pub fn scalar(&mut self) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&self.wide())
    }

    pub fn below(&mut self, n: usize) -> usize {
        (u64::from_le_bytes(self.wide()[..8].try_into().unwrap()) % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend_from_slice(&self.wide());
        }
        out.truncate(n);
        out
    }
}

/// The order of `EIGHT_TORSION[i]`: 1 for 0, 2 for 4, 4 for 2 and 6,
/// 8 for the odd ones.
pub fn torsion_order(i: usize) -> u32 {
    match i % 8 {
        0 => 1,
        4 => 2,
        2 | 6 => 4,
        _ => 8,
    }
}

/// A signer whose public key may carry a torsion component.
pub struct TorsionKey {
    pub a: Scalar,
    pub public: [u8; 32],
    pub torsion: usize,
}

impl TorsionKey {
    /// `A = a·B + EIGHT_TORSION[torsion]`.
    pub fn new(rng: &mut Rng, torsion: usize) -> Self {
        let a = rng.scalar();
        let point = a * ED25519_BASEPOINT_POINT + EIGHT_TORSION[torsion % 8];
        TorsionKey {
            a,
            public: point.compress().to_bytes(),
            torsion: torsion % 8,
        }
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.public)
    }

    fn point(&self) -> EdwardsPoint {
        self.a * ED25519_BASEPOINT_POINT + EIGHT_TORSION[self.torsion]
    }

    /// A signature of `msg` with `R = r·B + EIGHT_TORSION[r_torsion]` and
    /// `s = r + k·a`: valid under the cofactored equation for every choice.
    /// With `cofactorless`, `r` is drawn again until the cofactorless
    /// equation holds too (`k·T_A = -T_R`), for a torsion choice that
    /// allows it; without, until it fails (when the torsion terms can
    /// fail it at all). Returns the signature and whether the cofactorless
    /// equation holds.
    pub fn sign(
        &self,
        rng: &mut Rng,
        msg: &[u8],
        r_torsion: usize,
        cofactorless: Option<bool>,
    ) -> ([u8; 64], bool) {
        let mut last = None;
        for _ in 0..256 {
            let r = rng.scalar();
            let big_r = (r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[r_torsion % 8]).compress();
            let k = challenge(big_r.as_bytes(), &self.public, msg);
            let s = r + k * self.a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(big_r.as_bytes());
            sig[32..].copy_from_slice(s.as_bytes());
            // cofactorless: s·B - k·A == R
            let lhs = s * ED25519_BASEPOINT_POINT - k * self.point();
            let plain = lhs.compress() == big_r;
            match cofactorless {
                Some(want) if want != plain => last = Some((sig, plain)),
                _ => return (sig, plain),
            }
        }
        last.expect("at least one try")
    }
}

pub fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(msg);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}
