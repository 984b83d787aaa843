//! The reference paper's published numbers, for side-by-side tables. Accuracies are in
//! percent, times in seconds, exactly as printed in the paper.

/// Table 1: (metric, [Random, Reverse, D-LIE]).
pub const TABLE1: [(&str, [f64; 3]); 3] = [("kl", [71.62, 60.81, 88.56]), ("cos", [87.88, 87.68, 83.32]), ("both", [87.86, 87.57, 88.37])];

/// Table 2: (τ, rounds to 85 %, consensus error in percent); `None` where not reached.
pub const TABLE2: [(u32, Option<u64>, Option<f64>); 4] =
    [(1, Some(670), Some(0.00506)), (2, Some(273), Some(0.00936)), (5, Some(142), Some(0.06890)), (10, None, None)];

/// Table 3: (n, Stand-alone, Random, Reverse, D-LIE, aggregation time in s).
pub const TABLE3: [(u32, f64, f64, f64, f64, f64); 4] = [
    (50, 82.08, 87.91, 87.72, 88.37, 0.00183),
    (100, 80.57, 87.85, 87.69, 88.34, 0.00241),
    (200, 76.65, 86.59, 86.62, 87.94, 0.00322),
    (300, 74.83, 86.14, 86.56, 87.32, 0.00395),
];

/// Fig. 1 (right panel) for the similarity defense, as also given in Table 1's last row.
pub const FIG1_SIM_REWEIGHT: [(&str, f64); 3] = [("random", 87.86), ("reverse", 87.57), ("dlie", 88.37)];

/// The attacks' labels in the paper's column order.
pub const ATTACKS: [&str; 3] = ["random", "reverse", "dlie"];
