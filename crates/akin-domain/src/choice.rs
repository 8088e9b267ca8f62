//! Closed sets of authentik's choices (a flow's designation, a binding's
//! `invalid_response_action`, …) as enums, each declared once: the wire name of every
//! variant, its parsing, serde, the catalog's list of choices and the default all come from
//! that one declaration, so no name or default is written twice.

/// Declares an enum whose variants are written on the wire as the given strings.
///
/// ```ignore
/// choice_enum! {
///     /// doc
///     pub enum Mode { All = "all", default Any = "any", }
/// }
/// ```
/// gives `Mode::ALL` (the strings, in order: the catalog's choices), `as_str`, `parse`,
/// `Display`, `Serialize`/`Deserialize` as the string, its OpenAPI schema (a string enum),
/// and, when one variant is marked `default`, `Default` and [`WithDefault`] (the catalog's
/// choices and default).
macro_rules! choice_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        choice_enum!(@munch [$(#[$meta])*] $name [] [] $($body)*);
    };
    // A variant marked `default` (at most one).
    (@munch $meta:tt $name:ident [$($done:tt)*] []
        $(#[$vmeta:meta])* default $variant:ident = $text:literal, $($rest:tt)*) => {
        choice_enum!(@munch $meta $name [$($done)* $(#[$vmeta])* $variant = $text,]
            [$variant = $text] $($rest)*);
    };
    // Any other variant.
    (@munch $meta:tt $name:ident [$($done:tt)*] $default:tt
        $(#[$vmeta:meta])* $variant:ident = $text:literal, $($rest:tt)*) => {
        choice_enum!(@munch $meta $name [$($done)* $(#[$vmeta])* $variant = $text,]
            $default $($rest)*);
    };
    // All read, with a default.
    (@munch $meta:tt $name:ident $done:tt [$default:ident = $default_text:literal]) => {
        choice_enum!(@define $meta $name $done);

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl $crate::choice::WithDefault for $name {
            const CHOICES: &'static [&'static str] = $name::ALL;
            const DEFAULT_JSON: &'static str = concat!("\"", $default_text, "\"");
        }
    };
    // All read, no default.
    (@munch $meta:tt $name:ident $done:tt []) => {
        choice_enum!(@define $meta $name $done);
    };
    (@define [$(#[$meta:meta])*] $name:ident
        [$($(#[$vmeta:meta])* $variant:ident = $text:literal,)+]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every choice, as written on the wire, in authentik's order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::ALL.iter().copied()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("\"{text}\" is not a valid choice."))
                })
            }
        }
    };
}

pub(crate) use choice_enum;

/// A closed set with a default, as the catalog declares a field of it.
pub trait WithDefault: Default {
    /// Every choice, as written on the wire.
    const CHOICES: &'static [&'static str];
    /// The default as the catalog writes it (JSON text).
    const DEFAULT_JSON: &'static str;
}

#[cfg(test)]
mod tests {
    use super::WithDefault;

    choice_enum! {
        /// A test set.
        pub enum Mode {
            All = "all",
            /// Documented variants work too.
            default Any = "any",
            Radio = "radio-button-group",
        }
    }

    #[test]
    fn one_declaration_gives_names_parsing_serde_and_the_default() {
        assert_eq!(Mode::ALL, ["all", "any", "radio-button-group"]);
        assert_eq!(Mode::parse("radio-button-group"), Some(Mode::Radio));
        assert_eq!(Mode::parse("ANY"), None);
        assert_eq!(Mode::default(), Mode::Any);
        assert_eq!(Mode::DEFAULT_JSON, "\"any\"");
        assert_eq!(serde_json::to_value(Mode::All).unwrap(), "all");
        assert_eq!(
            serde_json::from_value::<Mode>("all".into()).unwrap(),
            Mode::All
        );
        let error = serde_json::from_value::<Mode>("party".into()).unwrap_err();
        assert_eq!(error.to_string(), "\"party\" is not a valid choice.");
        let schema = serde_json::to_value(<Mode as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema,
            serde_json::json!({"type": "string", "enum": ["all", "any", "radio-button-group"]})
        );
    }
}
