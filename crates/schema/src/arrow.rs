//! The file's Arrow schema (feature `arrow`): what memrec writes and what
//! tests that build recordings must match.

use arrow_schema::{DataType, Field, Schema};

use crate::{file_column_name, tables, ColumnType, Table, COMMON};

/// The Arrow type a column is stored as.
pub fn data_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::U32 => DataType::UInt32,
        ColumnType::U64 => DataType::UInt64,
        ColumnType::I32 => DataType::Int32,
        ColumnType::I64 => DataType::Int64,
        ColumnType::F64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Text => DataType::Utf8,
    }
}

/// Common columns, then each table's columns, nullable (other tables' rows
/// leave them empty).
pub fn file_schema() -> Schema {
    schema_of(tables())
}

/// [`file_schema`] with only these tables' columns: a recording holds the
/// tables of the groups it recorded (each row group repeats every column
/// of the schema in the footer, so unused ones cost in every row group).
pub fn schema_of(tables: &[&Table]) -> Schema {
    let mut fields: Vec<Field> = COMMON
        .iter()
        .map(|c| Field::new(c.name, data_type(c.ty), c.nullable))
        .collect();
    for t in tables {
        for c in t.columns {
            fields.push(Field::new(
                file_column_name(t.name, c.name),
                data_type(c.ty),
                true,
            ));
        }
    }
    Schema::new(fields)
}
