//! Values written as their name (an outcome, a run's state, an event): in JSON, and in the
//! journal's columns.

/// Implements `Serialize`, `Deserialize` and the journal's `Param` and `FromValue` for `$type` by its `name()`
/// (out) and `from_name()` (back). `$what` says what it is in the error for a name it does not
/// know: "an outcome".
///
/// For an enum whose variants hold nothing, a list `{ Variant => "name", ... }` after `$what`
/// also declares `name()` and `from_name()`, so each name is written once.
macro_rules! by_name {
    ($type:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub fn name(self) -> &'static str {
                match self {
                    $($type::$variant => $name,)+
                }
            }

            pub fn from_name(name: &str) -> Option<$type> {
                match name {
                    $($name => Some($type::$variant),)+
                    _ => None,
                }
            }
        }

        $crate::named::by_name!($type, $what);
    };
    ($type:ty, $what:literal) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
                <$type>::from_name(&name)
                    .ok_or_else(|| serde::de::Error::custom($crate::named::unknown($what, &name)))
            }
        }

        impl $crate::journal::db::Param for $type {
            fn value(&self) -> $crate::journal::db::Value {
                $crate::journal::db::Value::Text(self.name().to_owned())
            }
        }

        impl $crate::journal::db::FromValue for $type {
            fn from_value(value: $crate::journal::db::Value) -> Result<Self, String> {
                let name = String::from_value(value)?;
                <$type>::from_name(&name).ok_or_else(|| $crate::named::unknown($what, &name))
            }
        }
    };
}

pub(crate) use by_name;

/// `an outcome ftptrigger does not know: "finished"`.
pub(crate) fn unknown(what: &str, name: &str) -> String {
    format!("{what} ftptrigger does not know: {name:?}")
}
