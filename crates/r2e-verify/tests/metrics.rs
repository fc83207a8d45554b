//! pass@k, best@k (exact, against hand computation and a brute-force
//! reading of R2E-Gym's evaluation), bootstrap, distinguishability, and the
//! hybrid rule's ordering.

use r2e_verify::metrics::{
    self, Bootstrap, FilterItem, Key, cmp_key, distinguishability, expected_filtered_max,
    expected_max, key, pass_at_k,
};
use r2e_verify::select::{Candidate, HybridConfig, Method, choose};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
    }};
}

#[test]
fn pass_at_k_is_the_unbiased_estimator() {
    assert_close!(pass_at_k(10, 3, 1), 0.3);
    // 1 - C(7,2)/C(10,2) = 1 - 21/45
    assert_close!(pass_at_k(10, 3, 2), 24.0 / 45.0);
    assert_close!(pass_at_k(4, 2, 2), 5.0 / 6.0);
    assert_close!(pass_at_k(4, 2, 3), 1.0);
    assert_close!(pass_at_k(5, 0, 3), 0.0);
    assert_close!(pass_at_k(5, 5, 1), 1.0);
    // k beyond n counts as n; no rollouts is 0.
    assert_close!(pass_at_k(3, 1, 10), 1.0);
    assert_close!(pass_at_k(0, 0, 1), 0.0);
    // Large n stays exact: one correct among 200, half drawn.
    assert!((pass_at_k(200, 1, 100) - 0.5).abs() < 1e-12);
    assert!((pass_at_k(1000, 10, 1) - 0.01).abs() < 1e-12);
}

fn scored(free: &[f64], rewards: &[f64]) -> Vec<(Key, f64)> {
    free.iter()
        .zip(rewards)
        .map(|(&s, &r)| (key(s, 0.0, 0.0), r))
        .collect()
}

#[test]
fn best_at_k_of_a_score_matches_hand_counts() {
    // Scores 0.9 0.8 0.3 0.2 with rewards 1 0 1 0.
    let items = scored(&[0.9, 0.8, 0.3, 0.2], &[1.0, 0.0, 1.0, 0.0]);
    assert_close!(expected_max(&items, 1), 0.5);
    // Pairs: {0,1} {0,2} {0,3} pick 0 (1); {1,2} {1,3} pick 1 (0); {2,3} picks 2 (1).
    assert_close!(expected_max(&items, 2), 4.0 / 6.0);
    // Triples: three contain 0 (1); {1,2,3} picks 1 (0).
    assert_close!(expected_max(&items, 3), 3.0 / 4.0);
    assert_close!(expected_max(&items, 4), 1.0);
    assert_close!(expected_max(&items, 9), 1.0);
}

#[test]
fn ties_are_averaged() {
    // Scores 0.5 0.5 0.1, rewards 1 0 1.
    let items = scored(&[0.5, 0.5, 0.1], &[1.0, 0.0, 1.0]);
    assert_close!(expected_max(&items, 1), 2.0 / 3.0);
    // {0,1}: tie, 0.5; {0,2}: 1; {1,2}: 0.
    assert_close!(expected_max(&items, 2), 0.5);
    assert_close!(expected_max(&items, 3), 0.5);
}

/// `(exec_free, regression, generated, reward)` per candidate.
type Row = (Option<f64>, Option<f64>, Option<u32>, f64);

fn candidates(rows: &[Row]) -> Vec<Candidate> {
    rows.iter()
        .enumerate()
        .map(|(i, &(free, regression, generated, reward))| Candidate {
            rollout: i as u32,
            reward: Some(reward),
            exec_free: free,
            regression,
            generated,
        })
        .collect()
}

#[test]
fn methods_on_a_small_task_match_hand_counts() {
    let hybrid = HybridConfig::default();
    // c0 is the judge's favourite but fails a regression test; c3 passes
    // the most generated tests but the judge dislikes it.
    let c = candidates(&[
        (Some(0.9), Some(0.5), Some(1), 0.0),
        (Some(0.8), Some(1.0), Some(2), 1.0),
        (Some(0.7), Some(1.0), Some(3), 0.0),
        (Some(0.1), Some(1.0), Some(9), 1.0),
    ]);
    for k in 1..=4 {
        assert_close!(Method::Random.best_at_k(&c, k, &hybrid), 0.5);
    }
    assert_close!(Method::ExecFree.best_at_k(&c, 4, &hybrid), 0.0);
    assert_close!(Method::ExecBased.best_at_k(&c, 4, &hybrid), 1.0);
    // k = 4 keeps max(3, 2) = 3 by the judge: c0 c1 c2; regression ties
    // c1 c2; c2 passes more generated tests; its reward is 0.
    assert_close!(Method::Hybrid.best_at_k(&c, 4, &hybrid), 0.0);
    // k = 3 keeps all three: {0,1,2} → c2 (0); the other three triples
    // contain c3 (1).
    assert_close!(Method::Hybrid.best_at_k(&c, 3, &hybrid), 0.75);
    // Pairs: {0,1}→c1 1, {0,2}→c2 0, {0,3}→c3 1, {1,2}→c2 0, {1,3}→c3 1, {2,3}→c3 1.
    assert_close!(Method::Hybrid.best_at_k(&c, 2, &hybrid), 4.0 / 6.0);
    assert_close!(Method::Hybrid.best_at_k(&c, 1, &hybrid), 0.5);

    let pick = choose(Method::Hybrid, &c, &hybrid).expect("candidates");
    assert_eq!((pick.chosen, pick.tied.clone()), (2, vec![2]));
    assert_eq!(
        choose(Method::ExecBased, &c, &hybrid).map(|p| p.chosen),
        Some(3)
    );
    assert_eq!(
        choose(Method::ExecFree, &c, &hybrid).map(|p| p.chosen),
        Some(0)
    );
    assert_eq!(
        choose(Method::Random, &c, &hybrid).map(|p| p.tied.len()),
        Some(4)
    );
    assert!(choose(Method::Hybrid, &[], &hybrid).is_none());
}

#[test]
fn hybrid_breaks_ties_by_regression_then_generated_then_judge() {
    let hybrid = HybridConfig::default();
    // Same regression and generated tests: the judge decides.
    let c = candidates(&[
        (Some(0.4), Some(1.0), Some(2), 0.0),
        (Some(0.6), Some(1.0), Some(2), 1.0),
        (Some(0.5), Some(0.9), Some(5), 0.0),
    ]);
    assert_eq!(
        choose(Method::Hybrid, &c, &hybrid).map(|p| p.chosen),
        Some(1)
    );
    // Equal on everything: tied, lowest rollout chosen, best@k averages.
    let c = candidates(&[
        (Some(0.5), Some(1.0), Some(2), 0.0),
        (Some(0.5), Some(1.0), Some(2), 1.0),
    ]);
    let pick = choose(Method::Hybrid, &c, &hybrid).expect("candidates");
    assert_eq!((pick.chosen, pick.tied), (0, vec![0, 1]));
    assert_close!(Method::Hybrid.best_at_k(&c, 2, &hybrid), 0.5);
    // A candidate the judge did not score ranks last at the cut.
    let c = candidates(&[
        (None, Some(1.0), Some(9), 1.0),
        (Some(0.2), Some(0.5), Some(0), 0.0),
        (Some(0.3), Some(0.5), Some(0), 0.0),
        (Some(0.4), Some(0.5), Some(0), 0.0),
    ]);
    assert_eq!(
        choose(Method::Hybrid, &c, &hybrid).map(|p| p.chosen),
        Some(3)
    );
    assert_eq!(hybrid.keep(4), 3);
    assert_eq!(hybrid.keep(10), 5);
    assert_eq!(hybrid.keep(2), 2);
}

/// R2E-Gym's evaluation, read literally: for every subset and every order
/// of drawing it, stable-sort by the filter key, keep the first `keep`,
/// and average the rewards of those with the best rank key.
fn brute_force(items: &[FilterItem], k: usize, keep: usize) -> f64 {
    fn permutations(items: &mut Vec<usize>, n: usize, out: &mut Vec<Vec<usize>>) {
        if n <= 1 {
            out.push(items.clone());
            return;
        }
        // Heap's algorithm.
        permutations(items, n - 1, out);
        for i in 0..n - 1 {
            let j = if n.is_multiple_of(2) { i } else { 0 };
            items.swap(j, n - 1);
            permutations(items, n - 1, out);
        }
    }
    let total = items.len();
    let (mut sum, mut count) = (0.0, 0usize);
    for mask in 0u32..(1 << total) {
        if mask.count_ones() as usize != k {
            continue;
        }
        let mut subset: Vec<usize> = (0..total).filter(|i| mask & (1 << i) != 0).collect();
        let mut orders = Vec::new();
        permutations(&mut subset, k, &mut orders);
        let distinct: std::collections::HashSet<&Vec<usize>> = orders.iter().collect();
        assert_eq!(
            distinct.len(),
            (1..=k).product::<usize>(),
            "every draw order once"
        );
        let mut subset_sum = 0.0;
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort_by(|&a, &b| cmp_key(&items[b].filter, &items[a].filter));
            sorted.truncate(keep);
            let best = sorted
                .iter()
                .map(|&i| items[i].rank)
                .max_by(cmp_key)
                .expect("non-empty");
            let winners: Vec<f64> = sorted
                .iter()
                .filter(|&&i| cmp_key(&items[i].rank, &best).is_eq())
                .map(|&i| items[i].reward)
                .collect();
            subset_sum += winners.iter().sum::<f64>() / winners.len() as f64;
        }
        sum += subset_sum / orders.len() as f64;
        count += 1;
    }
    sum / count as f64
}

#[test]
fn exact_best_at_k_agrees_with_brute_force_over_subsets_and_draw_orders() {
    let mut rng = fastrand_like(7);
    let hybrid = HybridConfig::default();
    for trial in 0..60 {
        let total = 2 + trial % 6;
        // Few distinct values, so that ties (also at the cut) are common.
        let items: Vec<FilterItem> = (0..total)
            .map(|_| {
                let (v, r, g) = (rng() % 3, rng() % 2, rng() % 3);
                FilterItem {
                    filter: key(v as f64, r as f64, g as f64),
                    rank: key(r as f64, g as f64, v as f64),
                    reward: (rng() % 2) as f64,
                }
            })
            .collect();
        for k in 1..=total {
            for keep in [1, 2, hybrid.keep(k)] {
                let keep = keep.min(k);
                let exact = expected_filtered_max(&items, k, keep);
                let brute = brute_force(&items, k, keep);
                assert!(
                    (exact - brute).abs() < 1e-9,
                    "trial {trial}, k {k}, keep {keep}: exact {exact} brute {brute} for {items:?}"
                );
            }
            // Without a cut the two-stage pick is the plain maximum.
            let plain: Vec<(Key, f64)> = items.iter().map(|i| (i.rank, i.reward)).collect();
            assert!((expected_max(&plain, k) - brute_force(&items, k, k)).abs() < 1e-9);
        }
    }
}

/// A tiny deterministic generator for the test (xorshift).
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state >> 11
    }
}

#[test]
fn bootstrap_intervals_are_seeded_and_cover_the_mean() {
    let per_task: Vec<Vec<f64>> = (0..100).map(|i| vec![(i % 2) as f64, 0.25]).collect();
    let settings = Bootstrap {
        resamples: 500,
        confidence: 0.95,
        seed: 42,
    };
    let a = metrics::bootstrap(&per_task, &settings);
    let b = metrics::bootstrap(&per_task, &settings);
    assert_eq!(a, b, "same seed, same intervals");
    assert_close!(a[0].mean, 0.5);
    assert!(
        a[0].lo < 0.5 && a[0].hi > 0.5 && a[0].lo > 0.3 && a[0].hi < 0.7,
        "{:?}",
        a[0]
    );
    // A constant column has a zero-width interval.
    assert_close!(a[1].lo, 0.25);
    assert_close!(a[1].hi, 0.25);
    let none = metrics::bootstrap(
        &per_task,
        &Bootstrap {
            resamples: 0,
            ..settings
        },
    );
    assert_eq!((none[0].lo, none[0].hi), (0.5, 0.5));
    assert!(metrics::bootstrap(&[], &settings).is_empty());
}

#[test]
fn distinguishability_counts_separations_and_ties() {
    let tasks: Vec<Vec<(Key, bool)>> = vec![
        // separated: best correct 0.9 > best incorrect 0.5
        vec![(key(0.9, 0.0, 0.0), true), (key(0.5, 0.0, 0.0), false)],
        // tie
        vec![(key(0.7, 0.0, 0.0), true), (key(0.7, 0.0, 0.0), false)],
        // wrong way round
        vec![(key(0.1, 0.0, 0.0), true), (key(0.6, 0.0, 0.0), false)],
        // only correct candidates: not counted
        vec![(key(0.1, 0.0, 0.0), true)],
    ];
    let d = distinguishability(tasks.iter().map(Vec::as_slice));
    assert_eq!((d.tasks, d.separated, d.tied), (3, 1, 1));
    assert_close!(d.separated_rate(), 1.0 / 3.0);
    assert_close!(d.tie_rate(), 1.0 / 3.0);
}
