//! Conversions between the SDK's plain types and the types `wit-bindgen` generates.
//!
//! Each world's bindings get their own copy of the `types` interface in 0.1.0 (0.2.0's
//! attack bindings reuse the defense bindings' interfaces), so the conversions are written
//! once here as macros and expanded inside each bindings' module.

/// Expands, inside a module that holds `bindings`, to `wit` (the `types` interface),
/// `to_wit_info` and `from_wit_params`.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_types {
    () => {
        use bindings::byz::policy::types as wit;

        #[doc(hidden)]
        pub fn to_wit_info(info: $crate::Info) -> wit::PolicyInfo {
            wit::PolicyInfo {
                name: info.name,
                version: info.version,
                kind: match info.kind {
                    $crate::PolicyKind::Defense => wit::PolicyKind::Defense,
                    $crate::PolicyKind::Attack => wit::PolicyKind::Attack,
                },
                description: info.description,
                params: info
                    .params
                    .into_iter()
                    .map(|p| wit::ParamSpec {
                        name: p.name,
                        ty: match p.ty {
                            $crate::ParamType::Boolean => wit::ParamType::Boolean,
                            $crate::ParamType::Integer => wit::ParamType::Integer,
                            $crate::ParamType::Float => wit::ParamType::Float,
                            $crate::ParamType::Text => wit::ParamType::Text,
                        },
                        default: to_wit_value(p.default),
                        description: p.description,
                    })
                    .collect(),
                stateless: info.stateless,
                opt_outs: info.opt_outs,
            }
        }

        #[doc(hidden)]
        pub fn to_wit_level(level: $crate::LogLevel) -> wit::LogLevel {
            match level {
                $crate::LogLevel::Debug => wit::LogLevel::Debug,
                $crate::LogLevel::Info => wit::LogLevel::Info,
                $crate::LogLevel::Warn => wit::LogLevel::Warn,
            }
        }

        fn to_wit_value(v: $crate::ParamValue) -> wit::ParamValue {
            match v {
                $crate::ParamValue::Boolean(b) => wit::ParamValue::Boolean(b),
                $crate::ParamValue::Integer(i) => wit::ParamValue::Integer(i),
                $crate::ParamValue::Float(f) => wit::ParamValue::Float(f),
                $crate::ParamValue::Text(t) => wit::ParamValue::Text(t),
            }
        }

        #[doc(hidden)]
        pub fn from_wit_params(specs: &[$crate::ParamSpec], params: Vec<wit::Param>) -> Result<$crate::Params, String> {
            let given = params
                .into_iter()
                .map(|p| {
                    let v = match p.value {
                        wit::ParamValue::Boolean(b) => $crate::ParamValue::Boolean(b),
                        wit::ParamValue::Integer(i) => $crate::ParamValue::Integer(i),
                        wit::ParamValue::Float(f) => $crate::ParamValue::Float(f),
                        wit::ParamValue::Text(t) => $crate::ParamValue::Text(t),
                    };
                    (p.name, v)
                })
                .collect();
            $crate::Params::resolve(specs, given)
        }
    };
}

/// Expands, inside a module that holds `bindings`, to the instance cell [`Slot`], whose
/// panic hook reports through the bindings' `host.log`.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_slot {
    () => {
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
