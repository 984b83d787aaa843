//! `byz:policy@0.2.0`'s models: vectors the host keeps and lends to a call as resources,
//! and the kernels that run on them. Every kernel is `byz-policy-sdk`'s own (linked
//! natively), so a policy gets the same bits from the host kernel as from the SDK kernel
//! compiled into it; kernels over whole row sets take the rows gathered into one buffer.
//!
//! A lent model points at the caller's slice and is valid only during the call that lends
//! it. `prev`, `local` and the received (or honest) models' `model-list` are borrows, which
//! the component model ends with the call, and the host deletes them then. A model the
//! guest takes from the list (`get`) is an owned handle; when the call returns the host
//! expires it: the entry stays until the guest drops the handle, and any other use of it
//! traps. `share` copies a lent model into one that stays.

use std::sync::Arc;

use byz_policy_sdk::kernels;
use wasmtime::component::Resource;

use super::bindings::v0_2::defense::byz::policy::models as iface;
use super::state::HostState;

/// The values of a model: the host's own, a caller's slice lent for one call, or a lent
/// model whose call has returned.
pub enum Model {
    // A Vec, not a slice, so that the one handle to a result gives its buffer back uncopied.
    Owned(Arc<Vec<f32>>),
    Lent(LentSlice),
    Expired,
}

/// A slice lent for the duration of one call.
#[derive(Clone, Copy)]
pub struct LentSlice {
    ptr: *const f32,
    len: usize,
}

impl LentSlice {
    fn of(values: &[f32]) -> LentSlice {
        LentSlice { ptr: values.as_ptr(), len: values.len() }
    }
}

/// The received (or honest) models of one call, lent as one resource.
pub struct ModelList {
    rows: Vec<LentSlice>,
}

/// What [`lend`] put in the table for one call, for [`take_back`]: the single models
/// (`prev`, `local`) and the list, each lent to the guest as a borrow.
pub struct Loan {
    singles: Vec<Resource<Model>>,
    list: Resource<ModelList>,
}

impl Loan {
    /// A borrow of single model `i`, to pass to the call.
    pub fn single(&self, i: usize) -> Resource<Model> {
        Resource::new_borrow(self.singles[i].rep())
    }

    /// A borrow of the list, to pass to the call.
    pub fn list(&self) -> Resource<ModelList> {
        Resource::new_borrow(self.list.rep())
    }
}

// SAFETY: a lent slice is only read, from the thread running the call it was lent for,
// and is removed from the table before that call (and the borrow it came from) ends.
unsafe impl Send for LentSlice {}

impl Model {
    /// Lends `values` for one call; the caller must delete the resource before `values`
    /// goes out of scope ([`lend`] and [`take_back`] pair up).
    fn lent(values: &[f32]) -> Model {
        Model::Lent(LentSlice::of(values))
    }

    pub fn values(&self) -> wasmtime::Result<&[f32]> {
        match self {
            Model::Owned(v) => Ok(v),
            // SAFETY: see `LentSlice`: the slice outlives every use of the resource.
            Model::Lent(s) => Ok(unsafe { std::slice::from_raw_parts(s.ptr, s.len) }),
            Model::Expired => wasmtime::bail!("a model lent to an earlier call was used after that call returned"),
        }
    }
}

/// Lends `singles` (each a model) and `rows` (one list) to the store's table for one call;
/// [`take_back`] must follow before the slices drop.
pub fn lend(state: &mut HostState, singles: &[&[f32]], rows: &[&[f32]]) -> wasmtime::Result<Loan> {
    let singles = singles.iter().map(|v| state.table().push(Model::lent(v))).collect::<Result<_, _>>()?;
    let list = state.table().push(ModelList { rows: rows.iter().map(|r| LentSlice::of(r)).collect() })?;
    state.rows_lent.clear();
    Ok(Loan { singles, list })
}

/// Ends a loan: the single models and the list leave the table, and every model the guest
/// took from the list and still holds (it may have dropped some, and a slot may since hold
/// a model of its own) is expired.
pub fn take_back(state: &mut HostState, loan: Loan) {
    for rep in std::mem::take(&mut state.rows_lent) {
        if let Ok(entry) = state.table().get_mut(&Resource::<Model>::new_own(rep)) {
            if matches!(entry, Model::Lent(_)) {
                *entry = Model::Expired;
            }
        }
    }
    for single in loan.singles {
        let _ = state.table().delete(single);
    }
    let _ = state.table().delete(loan.list);
}

/// Takes an owned model the guest returned: its values, moved out of the table when this
/// was their last handle, copied otherwise.
pub fn take_owned(state: &mut HostState, model: Resource<Model>) -> wasmtime::Result<Vec<f32>> {
    match state.table().delete(model)? {
        Model::Owned(values) => Ok(Arc::try_unwrap(values).unwrap_or_else(|shared| shared.to_vec())),
        other => Ok(other.values()?.to_vec()),
    }
}

/// Takes an owned model the guest returned and appends its values to `out` (one copy).
pub fn append_owned(state: &mut HostState, model: Resource<Model>, out: &mut Vec<f32>) -> wasmtime::Result<()> {
    out.extend_from_slice(state.table().delete(model)?.values()?);
    Ok(())
}

type Kernel<T> = wasmtime::Result<Result<T, String>>;

impl HostState {
    fn model(&mut self, r: &Resource<Model>) -> wasmtime::Result<&Model> {
        Ok(self.table().get(r)?)
    }

    /// The values of each of `rows`, checked to have one length (`what` names the kernel).
    fn rows_of(&mut self, rows: &[Resource<Model>], what: &str) -> wasmtime::Result<Result<Vec<&[f32]>, String>> {
        self.check_deadline(what)?;
        let table = self.table_ref();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(table.get(r)?.values()?);
        }
        Ok(kernels::same_length(what, &out).map(|()| out))
    }

    fn own(&mut self, values: Vec<f32>) -> wasmtime::Result<Resource<Model>> {
        Ok(self.table().push(Model::Owned(Arc::new(values)))?)
    }
}

impl iface::HostModel for HostState {
    fn new(&mut self, values: Vec<f32>) -> wasmtime::Result<Resource<Model>> {
        self.own(values)
    }

    fn len(&mut self, m: Resource<Model>) -> wasmtime::Result<u32> {
        Ok(self.model(&m)?.values()?.len() as u32)
    }

    fn read(&mut self, m: Resource<Model>, start: u32, count: u32) -> wasmtime::Result<Vec<f32>> {
        let values = self.model(&m)?.values()?;
        let start = (start as usize).min(values.len());
        let end = start.saturating_add(count as usize).min(values.len());
        Ok(values[start..end].to_vec())
    }

    fn share(&mut self, m: Resource<Model>) -> wasmtime::Result<Resource<Model>> {
        let model = self.model(&m)?;
        let shared = match model {
            Model::Owned(v) => Model::Owned(v.clone()),
            other => Model::Owned(Arc::new(other.values()?.to_vec())),
        };
        Ok(self.table().push(shared)?)
    }

    fn drop(&mut self, m: Resource<Model>) -> wasmtime::Result<()> {
        self.table().delete(m)?;
        Ok(())
    }
}

impl iface::HostModelList for HostState {
    fn len(&mut self, list: Resource<ModelList>) -> wasmtime::Result<u32> {
        Ok(self.table().get(&list)?.rows.len() as u32)
    }

    fn lengths(&mut self, list: Resource<ModelList>) -> wasmtime::Result<Vec<u32>> {
        Ok(self.table().get(&list)?.rows.iter().map(|r| r.len as u32).collect())
    }

    fn get(&mut self, list: Resource<ModelList>, index: u32) -> wasmtime::Result<Resource<Model>> {
        let rows = &self.table().get(&list)?.rows;
        let Some(row) = rows.get(index as usize).copied() else {
            wasmtime::bail!("model-list.get({index}): the list holds {} models", rows.len());
        };
        let model = self.table().push(Model::Lent(row))?;
        self.rows_lent.push(model.rep());
        Ok(model)
    }

    fn drop(&mut self, list: Resource<ModelList>) -> wasmtime::Result<()> {
        self.table().delete(list)?;
        Ok(())
    }
}

impl iface::Host for HostState {
    fn cross_stats(
        &mut self,
        rows: Vec<Resource<Model>>,
        origin: Resource<Model>,
        reference: Resource<Model>,
    ) -> Kernel<Vec<iface::RowStats>> {
        let mut all = rows;
        all.extend([origin, reference]);
        Ok(self.rows_of(&all, "cross-stats")?.map(|v| {
            let (rows, ends) = v.split_at(v.len() - 2);
            let stats = kernels::cross_stats_rows(rows, ends[0], ends[1]);
            stats.into_iter().map(|s| iface::RowStats { dot: s.dot, norm_sq: s.norm_sq, positive: s.pos, negative: s.neg }).collect()
        }))
    }

    fn dot(&mut self, a: Resource<Model>, b: Resource<Model>) -> Kernel<f32> {
        Ok(self.rows_of(&[a, b], "dot")?.map(|v| kernels::dot(v[0], v[1])))
    }

    fn norm_sq(&mut self, a: Resource<Model>) -> wasmtime::Result<f32> {
        self.check_deadline("norm-sq")?;
        Ok(kernels::norm_sq(self.model(&a)?.values()?))
    }

    fn distances_sq(&mut self, rows: Vec<Resource<Model>>, to: Resource<Model>) -> Kernel<Vec<f32>> {
        let mut all = rows;
        all.push(to);
        Ok(self.rows_of(&all, "distances-sq")?.map(|v| {
            let (rows, to) = v.split_at(v.len() - 1);
            rows.iter().map(|r| kernels::distance_sq(r, to[0])).collect()
        }))
    }

    fn combine(&mut self, base: Resource<Model>, base_coef: f32, rows: Vec<Resource<Model>>, coefs: Vec<f32>) -> Kernel<Resource<Model>> {
        if rows.len() != coefs.len() {
            return Ok(Err(format!("combine: {} rows but {} coefficients", rows.len(), coefs.len())));
        }
        let mut all = rows;
        all.push(base);
        self.model_kernel(&all, "combine", |v| {
            let (rows, base) = v.split_at(v.len() - 1);
            let terms: Vec<(&[f32], f32)> = rows.iter().copied().zip(coefs).collect();
            Ok(kernels::combine(base[0], base_coef, &terms))
        })
    }

    fn sign_sum(&mut self, rows: Vec<Resource<Model>>, origin: Resource<Model>) -> Kernel<Resource<Model>> {
        let mut all = rows;
        all.push(origin);
        self.model_kernel(&all, "sign-sum", |v| {
            let (rows, origin) = v.split_at(v.len() - 1);
            Ok(kernels::sign_sum(rows, origin[0]))
        })
    }

    fn mean(&mut self, rows: Vec<Resource<Model>>) -> Kernel<Resource<Model>> {
        self.gathered_kernel(rows, None, "mean", |buf, dim| Ok(kernels::mean_rows(buf, dim)))
    }

    fn mean_plus_z_std(&mut self, rows: Vec<Resource<Model>>, z: f32) -> Kernel<Resource<Model>> {
        self.gathered_kernel(rows, None, "mean-plus-z-std", |buf, dim| Ok(kernels::mean_plus_z_std(buf, dim, z)))
    }

    fn median(&mut self, rows: Vec<Resource<Model>>, extra: Option<Resource<Model>>) -> Kernel<Resource<Model>> {
        self.gathered_kernel(rows, extra, "median", |buf, dim| Ok(kernels::median(buf, None, dim)))
    }

    fn trimmed_sum(&mut self, rows: Vec<Resource<Model>>, extra: Option<Resource<Model>>, trim: u32) -> Kernel<Resource<Model>> {
        self.gathered_kernel(rows, extra, "trimmed-sum", |buf, dim| kernels::trimmed_sum(buf, dim, trim as usize))
    }

    fn extrapolate(&mut self, x: Resource<Model>, origin: Resource<Model>, s: f32) -> Kernel<Resource<Model>> {
        self.model_kernel(&[x, origin], "extrapolate", |v| Ok(kernels::extrapolate(v[0], v[1], s)))
    }
}

impl HostState {
    /// A kernel whose answer is a new model, computed from the values of `rows` (checked
    /// to have one length); an `err` of the kernel is the guest's to handle.
    fn model_kernel(
        &mut self,
        rows: &[Resource<Model>],
        what: &str,
        kernel: impl FnOnce(&[&[f32]]) -> Result<Vec<f32>, String>,
    ) -> Kernel<Resource<Model>> {
        let out = match self.rows_of(rows, what)? {
            Ok(v) => kernel(&v),
            Err(e) => Err(e),
        };
        match out {
            Ok(values) => Ok(Ok(self.own(values)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// A [`HostState::model_kernel`] over the rows (and `extra`, as one more row after them)
    /// laid end to end, as the SDK's contiguous kernels take them.
    fn gathered_kernel(
        &mut self,
        mut rows: Vec<Resource<Model>>,
        extra: Option<Resource<Model>>,
        what: &str,
        kernel: impl FnOnce(&[f32], usize) -> Result<Vec<f32>, String>,
    ) -> Kernel<Resource<Model>> {
        rows.extend(extra);
        self.model_kernel(&rows, what, |v| kernels::end_to_end(what, v).and_then(|(rows, dim)| kernel(&rows, dim)))
    }
}

impl super::bindings::v0_2::defense::byz::policy::host::Host for HostState {
    fn log(&mut self, level: super::bindings::wit::LogLevel, message: String) -> wasmtime::Result<()> {
        super::bindings::defense::byz::policy::host::Host::log(self, level, message);
        Ok(())
    }

    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(super::bindings::defense::byz::policy::host::Host::random_u64(self))
    }
}

impl super::bindings::v0_2::defense::byz::policy::local_data::Host for HostState {
    /// The candidates gathered end to end, then 0.1.0's `evaluate-loss` (deadline and
    /// candidate caps included).
    fn evaluate_loss(&mut self, candidates: Vec<Resource<Model>>) -> Kernel<Vec<f32>> {
        let count = candidates.len() as u32;
        let buffer = match self.rows_of(&candidates, "evaluate-loss")? {
            Ok(v) => v.concat(),
            Err(e) => return Ok(Err(e)),
        };
        super::bindings::defense::byz::policy::local_data::Host::evaluate_loss(self, buffer, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::budget::MemoryBudget;
    use crate::sandbox::state::NoLocalData;
    use crate::sandbox::Limits;
    use iface::{Host as _, HostModel as _, HostModelList as _};

    fn state() -> HostState {
        HostState::new("p".into(), Some(0), 0, &Limits::default(), MemoryBudget::new(1 << 30), Box::new(NoLocalData), false)
    }

    fn borrow(r: &Resource<Model>) -> Resource<Model> {
        Resource::new_borrow(r.rep())
    }

    fn borrows(rows: &[Resource<Model>]) -> Vec<Resource<Model>> {
        rows.iter().map(borrow).collect()
    }

    fn values_of(s: &mut HostState, r: Resource<Model>) -> Vec<f32> {
        take_owned(s, r).unwrap()
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// NaN, ±∞, ±0, huge and tiny values in every position: each kernel gives the SDK's bits.
    #[test]
    fn kernels_on_adversarial_rows_give_the_sdk_kernels_bits() {
        let mut s = state();
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e38, -1e-38, 3.5];
        let rows: Vec<Vec<f32>> = (0..5).map(|r| (0..19).map(|i| specials[(3 * i + 5 * r) % 8]).collect()).collect();
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let origin = vec![0.5f32; 19];
        let loan = lend(&mut s, &[&origin], &refs).unwrap();
        let got: Vec<Resource<Model>> = (0..5).map(|i| s.get(loan.list(), i).unwrap()).collect();
        let flat = rows.concat();
        let m = s.mean(borrows(&got)).unwrap().unwrap();
        assert!(same_bits(&values_of(&mut s, m), &kernels::mean_rows(&flat, 19)));
        let m = s.median(borrows(&got), None).unwrap().unwrap();
        assert!(same_bits(&values_of(&mut s, m), &kernels::median(&flat, None, 19)));
        let m = s.trimmed_sum(borrows(&got), None, 2).unwrap().unwrap();
        assert!(same_bits(&values_of(&mut s, m), &kernels::trimmed_sum(&flat, 19, 2).unwrap()));
        let m = s.sign_sum(borrows(&got), loan.single(0)).unwrap().unwrap();
        assert!(same_bits(&values_of(&mut s, m), &kernels::sign_sum(&refs, &origin)));
        let m = s.combine(loan.single(0), -0.5, borrows(&got), vec![0.25, 0.0, -1.0, 2.0, 1e-3]).unwrap().unwrap();
        let terms: Vec<(&[f32], f32)> = refs.iter().copied().zip([0.25, 0.0, -1.0, 2.0, 1e-3]).collect();
        assert!(same_bits(&values_of(&mut s, m), &kernels::combine(&origin, -0.5, &terms)));
        let d = s.distances_sq(borrows(&got), loan.single(0)).unwrap().unwrap();
        assert!(same_bits(&d, &refs.iter().map(|r| kernels::distance_sq(r, &origin)).collect::<Vec<_>>()));
        let stats = s.cross_stats(borrows(&got), loan.single(0), borrow(&got[1])).unwrap().unwrap();
        for (st, want) in stats.iter().zip(kernels::cross_stats_rows(&refs, &origin, &rows[1])) {
            assert!(st.dot.to_bits() == want.dot.to_bits() && st.norm_sq.to_bits() == want.norm_sq.to_bits());
            assert_eq!((st.positive, st.negative), (want.pos, want.neg));
        }
        take_back(&mut s, loan);
    }

    /// Mismatched lengths, no rows, too few rows to trim and an index past the list's end
    /// are errors that say so; a model taken from a list and used after its call traps.
    #[test]
    fn bad_arguments_and_stale_handles_are_clear_errors() {
        let mut s = state();
        let (row, short) = (vec![1.0f32; 8], vec![1.0f32; 3]);
        let loan = lend(&mut s, &[&short], &[&row, &row]).unwrap();
        let got: Vec<Resource<Model>> = (0..2).map(|i| s.get(loan.list(), i).unwrap()).collect();
        let mut with_short = borrows(&got);
        with_short.push(loan.single(0));
        assert_eq!(s.mean(with_short).unwrap().unwrap_err(), "mean: row 2 has 3 values, row 0 has 8");
        assert_eq!(s.mean(Vec::new()).unwrap().unwrap_err(), "mean: no rows");
        assert!(s.trimmed_sum(borrows(&got), None, 1).unwrap().unwrap_err().contains("needs more than 2"));
        let e = s.combine(borrow(&got[0]), 1.0, borrows(&got), vec![1.0]).unwrap().unwrap_err();
        assert_eq!(e, "combine: 2 rows but 1 coefficients");
        let past = s.get(loan.list(), 2).unwrap_err().to_string();
        assert!(past.contains("model-list.get(2)") && past.contains("holds 2 models"), "{past}");
        assert_eq!(s.lengths(loan.list()).unwrap(), vec![8, 8]);
        // A range past the end is cut, one wholly past it is empty; a row of no values works.
        assert_eq!(s.read(borrow(&got[0]), 6, 100).unwrap().len(), 2);
        assert!(s.read(borrow(&got[0]), 100, 5).unwrap().is_empty());
        let empty = s.new(Vec::new()).unwrap();
        assert_eq!(s.norm_sq(borrow(&empty)).unwrap(), 0.0);
        assert!(s.cross_stats(Vec::new(), borrow(&got[0]), borrow(&got[1])).unwrap().unwrap().is_empty());
        take_back(&mut s, loan);
        let stale = s.read(borrow(&got[0]), 0, 4).unwrap_err().to_string();
        assert!(stale.contains("lent to an earlier call"), "{stale}");
        assert!(s.norm_sq(borrow(&got[1])).is_err());
    }

    #[test]
    fn a_lent_model_reads_the_callers_slice() {
        let values = vec![1.0f32, 2.0, 3.0];
        let lent = Model::lent(&values);
        assert_eq!(lent.values().unwrap(), &values[..]);
        assert_eq!(Model::Owned(Arc::new(values.clone())).values().unwrap(), &values[..]);
        assert!(Model::Expired.values().is_err());
    }
}
