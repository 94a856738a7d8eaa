//! Tool-policy glob matching (`data-plane/src/policy.rs`) against a plain
//! reference matcher over characters: same answer for every pattern and tool
//! name, and no panic on any UTF-8 (a `?` is one character, not one byte).
#![no_main]

use gatehouse_data_plane::fuzzing::glob_match;
use libfuzzer_sys::fuzz_target;

/// `*` any run of characters, `?` one character, everything else literal; whole name.
fn reference(pattern: &[char], name: &[char]) -> bool {
    // matches[j]: pattern[..i] matches name[..j].
    let mut matches = vec![false; name.len() + 1];
    matches[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        for j in 0..=name.len() {
            next[j] = match p {
                '*' => matches[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matches[j - 1],
                c => j > 0 && matches[j - 1] && name[j - 1] == c,
            };
        }
        matches = next;
    }
    matches[name.len()]
}

fuzz_target!(|input: &str| {
    let (pattern, name) = input.split_once('\n').unwrap_or((input, ""));
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    assert_eq!(glob_match(pattern, name), reference(&p, &n), "{pattern:?} vs {name:?}");
});
