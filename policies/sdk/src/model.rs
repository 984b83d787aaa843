//! [`Model`]: one model vector as a policy sees it.
//!
//! Inside a 0.2.0 component most models live in the host: `prev`, `local` and the received
//! (or honest) models are lent handles, and the [`crate::ops`] kernels run on them in the
//! host without copying anything. A model is read into the guest only when the policy
//! looks at its values (`&model[..]`, through `Deref`), once, and then kept. A model the
//! policy builds itself ([`Model::new`]) stays in the guest until a kernel needs it in the
//! host, where it is copied once. Natively (unit tests, benchmarks) every model is a plain
//! vector and the kernels are the same functions run in place, so a policy behaves the same
//! in both.

use std::cell::OnceCell;
use std::fmt;
use std::ops::Deref;

/// Values per `model.read` when a policy streams a lent model block by block: 16 KiB,
/// which stays in L1 while the policy works on it.
pub const READ_BLOCK: usize = 4096;

/// A model vector: lent by the host, made by a host kernel, or built by the policy.
pub struct Model {
    // Asked of the host on first use: a policy that never looks pays no call for it.
    len: OnceCell<usize>,
    values: OnceCell<Vec<f32>>,
    #[cfg(target_arch = "wasm32")]
    host: OnceCell<host::Handle>,
    /// Where the host handle comes from when first needed: a row of the call's lent list.
    #[cfg(target_arch = "wasm32")]
    row: Option<host::Row>,
}

impl Model {
    /// A model holding `values`, built by the policy.
    pub fn new(values: Vec<f32>) -> Model {
        Model {
            len: OnceCell::from(values.len()),
            values: OnceCell::from(values),
            #[cfg(target_arch = "wasm32")]
            host: OnceCell::new(),
            #[cfg(target_arch = "wasm32")]
            row: None,
        }
    }

    /// Models of `dim` values each, cut from `flat` (row-major rows end to end); an
    /// incomplete last row is dropped, as with `chunks_exact`.
    pub fn split(flat: &[f32], dim: usize) -> Vec<Model> {
        flat.chunks_exact(dim.max(1)).map(|row| Model::new(row.to_vec())).collect()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        *self.len.get_or_init(|| self.len_host())
    }

    /// True for a model of no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values, read from the host on first use (one copy) and kept.
    pub fn values(&self) -> &[f32] {
        self.values.get_or_init(|| self.read(0, self.len()))
    }

    /// Values `[start, start + count)`, cut at the end; read from the host without keeping
    /// them when the model has not been read whole yet.
    pub fn read(&self, start: usize, count: usize) -> Vec<f32> {
        let len = self.len();
        let start = start.min(len);
        let end = start.saturating_add(count).min(len);
        if let Some(values) = self.values.get() {
            return values[start..end].to_vec();
        }
        self.read_host(start, end - start)
    }

    /// Calls `f(offset, block)` for consecutive blocks of at most [`READ_BLOCK`] values, so
    /// a policy that needs every value once streams a lent model through L1 instead of
    /// copying it whole first.
    pub fn for_each_block(&self, mut f: impl FnMut(usize, &[f32])) {
        if let Some(values) = self.values.get() {
            for (i, block) in values.chunks(READ_BLOCK).enumerate() {
                f(i * READ_BLOCK, block);
            }
            return;
        }
        for start in (0..self.len()).step_by(READ_BLOCK) {
            f(start, &self.read_host(start, READ_BLOCK));
        }
    }

    /// The values as an owned vector.
    pub fn into_vec(mut self) -> Vec<f32> {
        match self.values.take() {
            Some(values) => values,
            None => self.read_host(0, self.len()),
        }
    }

    /// Another model with the same values (in the host: a new handle, no copy of a model
    /// the host made; one copy of a lent one, which must outlive the call).
    pub fn share(&self) -> Model {
        #[cfg(target_arch = "wasm32")]
        if self.host.get().is_some() || self.row.is_some() {
            return Model::from_host(self.handle().share());
        }
        Model::new(self.values().to_vec())
    }
}

impl Deref for Model {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        self.values()
    }
}

impl From<Vec<f32>> for Model {
    fn from(values: Vec<f32>) -> Model {
        Model::new(values)
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model").field("len", &self.len()).field("read", &self.values.get().is_some()).finish()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Model {
    fn read_host(&self, _start: usize, _count: usize) -> Vec<f32> {
        unreachable!("a native model always holds its values")
    }

    fn len_host(&self) -> usize {
        unreachable!("a native model always knows its length")
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod host {
    //! Handles to models kept by the host.

    use std::mem::ManuallyDrop;

    pub(crate) use crate::defense::bindings::byz::policy::models::{Model as WitModel, ModelList as WitModelList};

    /// An owned handle, dropped with the model, or a borrowed one (`prev`, `local`), which
    /// the caller owns and must not be dropped here.
    pub(crate) enum Handle {
        Owned(WitModel),
        Borrowed(ManuallyDrop<WitModel>),
    }

    /// Row `index` of a list borrowed for the current call.
    pub(crate) struct Row {
        list: ManuallyDrop<WitModelList>,
        index: u32,
    }

    /// The models of a borrowed list, each taken from the host (`get`) only when used. Their
    /// lengths come in one call. The models must be dropped before the call returns.
    pub(crate) fn rows_of(list: &WitModelList) -> Vec<super::Model> {
        list.lengths()
            .into_iter()
            .enumerate()
            .map(|(index, len)| {
                // SAFETY: as in `Model::from_borrowed`: an alias the caller's borrow outlives.
                let list = ManuallyDrop::new(unsafe { WitModelList::from_handle(list.handle()) });
                super::Model {
                    len: std::cell::OnceCell::from(len as usize),
                    values: Default::default(),
                    host: Default::default(),
                    row: Some(Row { list, index: index as u32 }),
                }
            })
            .collect()
    }

    impl Handle {
        pub(crate) fn get(&self) -> &WitModel {
            match self {
                Handle::Owned(m) => m,
                Handle::Borrowed(m) => m,
            }
        }
    }

    impl super::Model {
        /// A model for an owned host handle (received models, kernel results).
        pub(crate) fn from_host(handle: WitModel) -> super::Model {
            super::Model {
                len: Default::default(),
                values: Default::default(),
                host: std::cell::OnceCell::from(Handle::Owned(handle)),
                row: None,
            }
        }

        /// A model for a handle borrowed for the current call. The model must be dropped
        /// before the call returns (the export glue keeps it on the call's stack).
        pub(crate) fn from_borrowed(handle: &WitModel) -> super::Model {
            // SAFETY: the handle stays valid for the call, and ManuallyDrop keeps this
            // wrapper from dropping a resource the caller owns.
            let alias = ManuallyDrop::new(unsafe { WitModel::from_handle(handle.handle()) });
            super::Model {
                len: Default::default(),
                values: Default::default(),
                host: std::cell::OnceCell::from(Handle::Borrowed(alias)),
                row: None,
            }
        }

        /// The host handle: taken from the lent list, or made from a model the policy built
        /// (one copy), on first use.
        pub(crate) fn handle(&self) -> &WitModel {
            self.host
                .get_or_init(|| match &self.row {
                    Some(row) => Handle::Owned(row.list.get(row.index)),
                    None => Handle::Owned(WitModel::new(self.values.get().expect("a model holds values or a handle"))),
                })
                .get()
        }

        /// An owned handle to return to the host: this model's own, a shared one of a
        /// borrowed model, or a new one holding the policy's values.
        pub(crate) fn into_host(self) -> WitModel {
            if self.host.get().is_none() && self.values.get().is_none() {
                // A row never touched: take it from the list now.
                self.handle();
            }
            match self.host.into_inner() {
                Some(Handle::Owned(m)) => m,
                Some(Handle::Borrowed(m)) => m.share(),
                None => WitModel::new(self.values.get().expect("a model holds values or a handle")),
            }
        }

        pub(super) fn read_host(&self, start: usize, count: usize) -> Vec<f32> {
            self.handle().read(start as u32, count as u32)
        }

        pub(super) fn len_host(&self) -> usize {
            self.handle().len() as usize
        }
    }
}
