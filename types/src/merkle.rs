//! The sha256 Merkle tree of RFC 6962 / RFC 9162 (certificate transparency): leaves are hashed as
//! `sha256(0x00 ‖ data)`, inner nodes as `sha256(0x01 ‖ left ‖ right)`, a tree of n leaves splits
//! at the largest power of two below n, and the empty tree hashes to `sha256("")`.
//!
//! Chosen because it is specified, has independent implementations a rollup or a contract can
//! reuse, and its audit paths need no padding leaves.

use crate::hash::{Hash, sha256};

/// Prefix of a leaf hash.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an inner node hash.
pub const NODE_PREFIX: u8 = 0x01;
/// Longest audit path any tree of up to 2^32 leaves needs.
pub const MAX_PATH_LEN: usize = 32;

/// `sha256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[LEAF_PREFIX], data])
}

/// `sha256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[NODE_PREFIX], &left.0, &right.0])
}

/// The root over already-hashed leaves.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return sha256(&[]);
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level.first().copied().unwrap_or_default()
}

/// Pairs adjacent nodes; a last odd node moves up unchanged, which yields exactly the RFC 6962
/// split at the largest power of two.
fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node_hash(l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The audit path of leaf `index` among `leaves`, or `None` if out of range.
pub fn audit_path(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        if let Some(sibling) = level.get(i ^ 1) {
            path.push(*sibling);
        }
        level = next_level(&level);
        i >>= 1;
    }
    Some(path)
}

/// Checks that `leaf` (already hashed) is at `index` in a tree of `size` leaves with `root`,
/// following RFC 9162 section 2.1.3.2.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    root_from_path(leaf, index, size, path).is_some_and(|r| r == *root)
}

/// The root that `path` leads to from `leaf` at `index` in a tree of `size` leaves, or `None` if
/// the path cannot belong to such a position (RFC 9162 section 2.1.3.2).
pub fn root_from_path(leaf: &Hash, index: u64, size: u64, path: &[Hash]) -> Option<Hash> {
    if index >= size || path.len() > MAX_PATH_LEN {
        return None;
    }
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    /// The recursive definition of RFC 6962, to check the iterative one against.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => sha256(&[]),
            1 => d[0],
            n => {
                // The largest power of two strictly below n.
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn iterative_root_matches_the_recursive_definition() {
        for n in 0..70 {
            let l = leaves(n);
            assert_eq!(root(&l), mth(&l), "n = {n}");
        }
    }

    #[test]
    fn every_audit_path_verifies_and_only_at_its_own_index() {
        for n in 1..40usize {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let path = audit_path(&l, i).unwrap();
                assert!(verify_inclusion(&l[i], i as u64, n as u64, &path, &r));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(!verify_inclusion(&l[i], j as u64, n as u64, &path, &r));
                    assert!(!verify_inclusion(&l[j], i as u64, n as u64, &path, &r));
                }
            }
        }
    }

    /// A path is only meaningful for an authenticated tree size: the same path can verify at
    /// another size. This is why the namespaces root commits to its leaf count.
    #[test]
    fn tree_size_must_be_authenticated_separately() {
        let l = leaves(3);
        let path = audit_path(&l, 0).unwrap();
        assert!(verify_inclusion(&l[0], 0, 3, &path, &root(&l)));
        assert!(verify_inclusion(&l[0], 0, 4, &path, &root(&l)));
    }

    #[test]
    fn out_of_range_index_has_no_path() {
        assert!(audit_path(&leaves(3), 3).is_none());
        assert!(!verify_inclusion(&Hash::ZERO, 0, 0, &[], &sha256(&[])));
    }
}
