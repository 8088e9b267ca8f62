//! Column types that must look the same from both backends.
//!
//! sqlx writes a `Uuid` to SQLite as a 16-byte blob and an `OffsetDateTime` as RFC 3339 text
//! of varying width (so text order is not time order). These newtypes store uuids as
//! hyphenated text and times as fixed-width UTC text with microseconds on SQLite, and use the
//! native `uuid` and `timestamptz` types on PostgreSQL.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbUuid(pub Uuid);

impl Type<Sqlite> for DbUuid {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for DbUuid {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.hyphenated().to_string(), buf)
    }
}

impl Decode<'_, Sqlite> for DbUuid {
    fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Ok(Self(Uuid::parse_str(&text)?))
    }
}

impl Type<Postgres> for DbUuid {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbUuid {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Uuid as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Decode<'_, Postgres> for DbUuid {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Self(<Uuid as Decode<Postgres>>::decode(value)?))
    }
}

/// A point in time, stored to the microsecond (PostgreSQL's precision) in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbTime(pub OffsetDateTime);

impl DbTime {
    /// Truncates to microseconds and converts to UTC, so what is written is what is read.
    pub fn new(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let micros = at.microsecond();
        Self(at.replace_microsecond(micros).unwrap_or(at))
    }

    fn sqlite_text(&self) -> String {
        let t = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl Type<Sqlite> for DbTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for DbTime {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(DbTime::new(self.0).sqlite_text(), buf)
    }
}

impl Decode<'_, Sqlite> for DbTime {
    fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Ok(Self(OffsetDateTime::parse(&text, &Rfc3339)?))
    }
}

impl Type<Postgres> for DbTime {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode_by_ref(&DbTime::new(self.0).0, buf)
    }
}

impl Decode<'_, Postgres> for DbTime {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Self(
            <OffsetDateTime as Decode<Postgres>>::decode(value)?.to_offset(UtcOffset::UTC),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sqlite_text_is_fixed_width_and_sorts_by_time() {
        let a = DbTime::new(datetime!(2026-01-02 03:04:05 UTC)).sqlite_text();
        let b = DbTime::new(datetime!(2026-01-02 03:04:05.1 UTC)).sqlite_text();
        assert_eq!(a, "2026-01-02T03:04:05.000000Z");
        assert_eq!(a.len(), b.len());
        assert!(a < b);
    }

    #[test]
    fn nanoseconds_and_offsets_are_normalised() {
        let t = DbTime::new(datetime!(2026-01-02 03:04:05.123456789 +02:00));
        assert_eq!(t.0, datetime!(2026-01-02 01:04:05.123456 UTC));
    }
}
