//! Kernels on [`Model`]s: what robust aggregation rules and attacks are made of.
//!
//! Inside a 0.2.0 component each function is one call of the host kernel of the same name
//! (`byz:policy/models`), which runs [`crate::kernels`] natively on the host's models: a
//! policy moves only the O(k) numbers these return, and a model-valued result stays in
//! the host until the policy reads it. Natively the same [`crate::kernels`] functions run
//! in place, so unit tests and components agree bit for bit. Every function checks that
//! its models have one length and names itself in the error otherwise.

use crate::kernels::CrossStats;
use crate::Model;

/// [`CrossStats`] of `row − origin` against `reference` for every row, in order.
pub fn cross_stats(rows: &[&Model], origin: &Model, reference: &Model) -> Result<Vec<CrossStats>, String> {
    imp::cross_stats(rows, origin, reference)
}

/// `a · b`.
pub fn dot(a: &Model, b: &Model) -> Result<f32, String> {
    imp::dot(a, b)
}

/// `‖a‖²`.
pub fn norm_sq(a: &Model) -> f32 {
    imp::norm_sq(a)
}

/// `‖row − to‖²` of every row, in order.
pub fn distances_sq(rows: &[&Model], to: &Model) -> Result<Vec<f32>, String> {
    imp::distances_sq(rows, to)
}

/// `base_coef · base + Σ coefs[j] · rows[j]`, terms added in order; a row with
/// coefficient 0 is never read ([`crate::kernels::combine`]).
pub fn combine(base: &Model, base_coef: f32, rows: &[&Model], coefs: &[f32]) -> Result<Model, String> {
    if rows.len() != coefs.len() {
        return Err(format!("combine: {} rows but {} coefficients", rows.len(), coefs.len()));
    }
    imp::combine(base, base_coef, rows, coefs)
}

/// `coef · x` ([`combine`] with no rows).
pub fn scale(x: &Model, coef: f32) -> Result<Model, String> {
    combine(x, coef, &[], &[])
}

/// Per coordinate, Σ over rows of sign(origin − row), exact ([`crate::kernels::sign_sum`]).
pub fn sign_sum(rows: &[&Model], origin: &Model) -> Result<Model, String> {
    imp::sign_sum(rows, origin)
}

/// Per coordinate, the mean of the rows ([`crate::kernels::mean_rows`]).
pub fn mean(rows: &[&Model]) -> Result<Model, String> {
    imp::mean(rows)
}

/// Per coordinate, mean + z · population standard deviation ([`crate::kernels::mean_plus_z_std`]).
pub fn mean_plus_z_std(rows: &[&Model], z: f32) -> Result<Model, String> {
    imp::mean_plus_z_std(rows, z)
}

/// Per coordinate, the median of the rows and `extra` ([`crate::kernels::median`]).
pub fn median(rows: &[&Model], extra: Option<&Model>) -> Result<Model, String> {
    imp::median(rows, extra)
}

/// Per coordinate, the sum of the rows and `extra` after dropping the `trim` smallest and
/// largest ([`crate::kernels::trimmed_sum`]).
pub fn trimmed_sum(rows: &[&Model], extra: Option<&Model>, trim: u32) -> Result<Model, String> {
    imp::trimmed_sum(rows, extra, trim)
}

/// Per coordinate, `x + s · (x − origin)` ([`crate::kernels::extrapolate`]).
pub fn extrapolate(x: &Model, origin: &Model, s: f32) -> Result<Model, String> {
    imp::extrapolate(x, origin, s)
}

/// The kernels run in place on the models' values (natively).
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;
    use crate::kernels;

    fn values<'a>(models: impl IntoIterator<Item = &'a Model>) -> Vec<&'a [f32]> {
        models.into_iter().map(|m| m.values()).collect()
    }

    /// The values of `rows` and then `more`, checked to have one length.
    fn checked<'a>(what: &str, rows: &[&'a Model], more: &[&'a Model]) -> Result<Vec<&'a [f32]>, String> {
        let all = values(rows.iter().chain(more).copied());
        kernels::same_length(what, &all)?;
        Ok(all)
    }

    /// The rows (and `extra` after them) end to end, as the contiguous kernels take them.
    fn gathered(what: &str, rows: &[&Model], extra: Option<&Model>) -> Result<(Vec<f32>, usize), String> {
        kernels::end_to_end(what, &checked(what, rows, extra.as_slice())?)
    }

    pub fn cross_stats(rows: &[&Model], origin: &Model, reference: &Model) -> Result<Vec<CrossStats>, String> {
        let all = checked("cross-stats", rows, &[origin, reference])?;
        let (rows, ends) = all.split_at(all.len() - 2);
        Ok(kernels::cross_stats_rows(rows, ends[0], ends[1]))
    }

    pub fn dot(a: &Model, b: &Model) -> Result<f32, String> {
        let v = checked("dot", &[a, b], &[])?;
        Ok(kernels::dot(v[0], v[1]))
    }

    pub fn norm_sq(a: &Model) -> f32 {
        kernels::norm_sq(a)
    }

    pub fn distances_sq(rows: &[&Model], to: &Model) -> Result<Vec<f32>, String> {
        let all = checked("distances-sq", rows, &[to])?;
        let (rows, to) = all.split_at(all.len() - 1);
        Ok(rows.iter().map(|r| kernels::distance_sq(r, to[0])).collect())
    }

    pub fn combine(base: &Model, base_coef: f32, rows: &[&Model], coefs: &[f32]) -> Result<Model, String> {
        let all = checked("combine", rows, &[base])?;
        let (rows, base) = all.split_at(all.len() - 1);
        let terms: Vec<(&[f32], f32)> = rows.iter().copied().zip(coefs.iter().copied()).collect();
        Ok(kernels::combine(base[0], base_coef, &terms).into())
    }

    pub fn sign_sum(rows: &[&Model], origin: &Model) -> Result<Model, String> {
        let all = checked("sign-sum", rows, &[origin])?;
        let (rows, origin) = all.split_at(all.len() - 1);
        Ok(kernels::sign_sum(rows, origin[0]).into())
    }

    pub fn mean(rows: &[&Model]) -> Result<Model, String> {
        let (buf, dim) = gathered("mean", rows, None)?;
        Ok(kernels::mean_rows(&buf, dim).into())
    }

    pub fn mean_plus_z_std(rows: &[&Model], z: f32) -> Result<Model, String> {
        let (buf, dim) = gathered("mean-plus-z-std", rows, None)?;
        Ok(kernels::mean_plus_z_std(&buf, dim, z).into())
    }

    pub fn median(rows: &[&Model], extra: Option<&Model>) -> Result<Model, String> {
        let (buf, dim) = gathered("median", rows, extra)?;
        Ok(kernels::median(&buf, None, dim).into())
    }

    pub fn trimmed_sum(rows: &[&Model], extra: Option<&Model>, trim: u32) -> Result<Model, String> {
        let (buf, dim) = gathered("trimmed-sum", rows, extra)?;
        kernels::trimmed_sum(&buf, dim, trim as usize).map(Model::from)
    }

    pub fn extrapolate(x: &Model, origin: &Model, s: f32) -> Result<Model, String> {
        let v = checked("extrapolate", &[x, origin], &[])?;
        Ok(kernels::extrapolate(v[0], v[1], s).into())
    }
}

/// The kernels called in the host, on the models' handles.
#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::defense::bindings::byz::policy::models as host;
    use crate::model::host::WitModel;

    fn handles<'a>(models: &[&'a Model]) -> Vec<&'a WitModel> {
        models.iter().map(|m| m.handle()).collect()
    }

    pub fn cross_stats(rows: &[&Model], origin: &Model, reference: &Model) -> Result<Vec<CrossStats>, String> {
        let stats = host::cross_stats(&handles(rows), origin.handle(), reference.handle())?;
        let len = origin.len() as u64;
        Ok(stats.into_iter().map(|s| CrossStats { dot: s.dot, norm_sq: s.norm_sq, pos: s.positive, neg: s.negative, len }).collect())
    }

    pub fn dot(a: &Model, b: &Model) -> Result<f32, String> {
        host::dot(a.handle(), b.handle())
    }

    pub fn norm_sq(a: &Model) -> f32 {
        host::norm_sq(a.handle())
    }

    pub fn distances_sq(rows: &[&Model], to: &Model) -> Result<Vec<f32>, String> {
        host::distances_sq(&handles(rows), to.handle())
    }

    pub fn combine(base: &Model, base_coef: f32, rows: &[&Model], coefs: &[f32]) -> Result<Model, String> {
        host::combine(base.handle(), base_coef, &handles(rows), coefs).map(Model::from_host)
    }

    pub fn sign_sum(rows: &[&Model], origin: &Model) -> Result<Model, String> {
        host::sign_sum(&handles(rows), origin.handle()).map(Model::from_host)
    }

    pub fn mean(rows: &[&Model]) -> Result<Model, String> {
        host::mean(&handles(rows)).map(Model::from_host)
    }

    pub fn mean_plus_z_std(rows: &[&Model], z: f32) -> Result<Model, String> {
        host::mean_plus_z_std(&handles(rows), z).map(Model::from_host)
    }

    pub fn median(rows: &[&Model], extra: Option<&Model>) -> Result<Model, String> {
        host::median(&handles(rows), extra.map(Model::handle)).map(Model::from_host)
    }

    pub fn trimmed_sum(rows: &[&Model], extra: Option<&Model>, trim: u32) -> Result<Model, String> {
        host::trimmed_sum(&handles(rows), extra.map(Model::handle), trim).map(Model::from_host)
    }

    pub fn extrapolate(x: &Model, origin: &Model, s: f32) -> Result<Model, String> {
        host::extrapolate(x.handle(), origin.handle(), s).map(Model::from_host)
    }
}
