//! Bitsets as plain `u64` words (bit `i` is bit `i % 64` of word `i / 64`),
//! for the per-document marks of the matching pass and the home grid.
//! Out-of-range positions read as unset and are not written.

/// Whether bit `i` is set.
pub fn get(words: &[u64], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// Sets bit `i`.
pub fn set(words: &mut [u64], i: usize) {
    if let Some(w) = words.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

/// The positions of the set bits, in increasing order.
pub fn ones(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(i, &w)| {
        let mut bits = w;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                i * 64 + b
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_bits_read_back_in_order() {
        let mut words = vec![0u64; 3];
        let positions = [0, 1, 63, 64, 100, 127, 128, 191];
        for &i in positions.iter().rev() {
            set(&mut words, i);
        }
        // Beyond the words: neither written nor read.
        set(&mut words, 192);
        assert!(!get(&words, 192));
        assert_eq!(ones(&words).collect::<Vec<_>>(), positions);
        for i in 0..200 {
            assert_eq!(get(&words, i), positions.contains(&i), "{i}");
        }
        assert_eq!(ones(&[]).count(), 0);
    }
}
