//! Conversions between the SDK's plain types and the types `wit-bindgen` generates.
//!
//! Each world's bindings get their own copy of the `types` interface, so the conversions
//! are written once here as a macro and expanded inside the `defense` and `attack` modules.

/// Expands, inside a module that holds `bindings`, to `to_wit_info`, `from_wit_params`,
/// the `WasmEnv` that forwards [`crate::Env`] to the WIT imports, and the instance cell.
macro_rules! wit_glue {
    () => {
        use bindings::byz::policy::types as wit;

        #[doc(hidden)]
        pub fn to_wit_info(info: crate::Info) -> wit::PolicyInfo {
            wit::PolicyInfo {
                name: info.name,
                version: info.version,
                kind: match info.kind {
                    crate::PolicyKind::Defense => wit::PolicyKind::Defense,
                    crate::PolicyKind::Attack => wit::PolicyKind::Attack,
                },
                description: info.description,
                params: info
                    .params
                    .into_iter()
                    .map(|p| wit::ParamSpec {
                        name: p.name,
                        ty: match p.ty {
                            crate::ParamType::Boolean => wit::ParamType::Boolean,
                            crate::ParamType::Integer => wit::ParamType::Integer,
                            crate::ParamType::Float => wit::ParamType::Float,
                            crate::ParamType::Text => wit::ParamType::Text,
                        },
                        default: to_wit_value(p.default),
                        description: p.description,
                    })
                    .collect(),
                stateless: info.stateless,
                opt_outs: info.opt_outs,
            }
        }

        fn to_wit_value(v: crate::ParamValue) -> wit::ParamValue {
            match v {
                crate::ParamValue::Boolean(b) => wit::ParamValue::Boolean(b),
                crate::ParamValue::Integer(i) => wit::ParamValue::Integer(i),
                crate::ParamValue::Float(f) => wit::ParamValue::Float(f),
                crate::ParamValue::Text(t) => wit::ParamValue::Text(t),
            }
        }

        #[doc(hidden)]
        pub fn from_wit_params(specs: &[crate::ParamSpec], params: Vec<wit::Param>) -> Result<crate::Params, String> {
            let given = params
                .into_iter()
                .map(|p| {
                    let v = match p.value {
                        wit::ParamValue::Boolean(b) => crate::ParamValue::Boolean(b),
                        wit::ParamValue::Integer(i) => crate::ParamValue::Integer(i),
                        wit::ParamValue::Float(f) => crate::ParamValue::Float(f),
                        wit::ParamValue::Text(t) => crate::ParamValue::Text(t),
                    };
                    (p.name, v)
                })
                .collect();
            crate::Params::resolve(specs, given)
        }

        /// The component's view of the host, through the WIT imports.
        pub struct WasmEnv;

        impl crate::Env for WasmEnv {
            fn log(&mut self, level: crate::LogLevel, message: &str) {
                let level = match level {
                    crate::LogLevel::Debug => wit::LogLevel::Debug,
                    crate::LogLevel::Info => wit::LogLevel::Info,
                    crate::LogLevel::Warn => wit::LogLevel::Warn,
                };
                bindings::byz::policy::host::log(level, message);
            }

            fn random_u64(&mut self) -> u64 {
                bindings::byz::policy::host::random_u64()
            }

            fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
                evaluate_loss_import(candidates, count)
            }
        }

        /// The policy instance of this component, created on first use and kept across
        /// calls so policies may hold state. Components are single-threaded.
        pub struct Slot<T>(std::cell::RefCell<Option<T>>);

        // SAFETY: a component instance runs on one thread; the host never shares it.
        unsafe impl<T> Sync for Slot<T> {}

        impl<T: Default> Slot<T> {
            pub const fn new() -> Self {
                Slot(std::cell::RefCell::new(None))
            }
            pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
                // A panic aborts (traps) the instance; log its message first so the host's
                // fault report can say what went wrong.
                static HOOK: std::sync::Once = std::sync::Once::new();
                HOOK.call_once(|| {
                    std::panic::set_hook(Box::new(|info| {
                        bindings::byz::policy::host::log(wit::LogLevel::Warn, &format!("panic: {info}"));
                    }))
                });
                let mut guard = self.0.borrow_mut();
                f(guard.get_or_insert_with(T::default))
            }
        }
    };
}

pub(crate) use wit_glue;
