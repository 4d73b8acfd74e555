//! OData filters and orders rendered as SQL over the alias `i` (indicators) or `a` (alerts).
//! No text from a query reaches the SQL: every literal is a bound parameter.

use super::value_hash;
use crate::odata::{CompareOp, Entity, Field, Filter, Literal, OrderKey, StringFunction, Subject};
use rusqlite::types::Value as SqlValue;

pub(super) fn column(field: Field) -> &'static str {
    match field {
        Field::Id => "i.id",
        Field::Application => "i.application",
        Field::CreatedByDisplayName => "i.created_by_display_name",
        Field::ExpirationTime => "i.expiration_time",
        Field::GenerateAlert => "i.generate_alert",
        Field::Title => "i.title",
        Field::Description => "i.description",
        Field::RbacGroupNames => "i.rbac_group_names",
        Field::RbacGroupIds => "i.rbac_group_ids",
        Field::IndicatorValue => "i.indicator_value",
        Field::IndicatorType => "i.indicator_type",
        Field::CreationTimeDateTimeUtc => "i.creation_time",
        Field::LastUpdateTime => "i.last_update_time",
        Field::LastUpdatedBy => "i.last_updated_by",
        Field::CreatedBy => "i.created_by",
        Field::Action => "i.action",
        Field::Severity => "i.severity",
        Field::Category => "i.category",
        Field::ExternalId => "i.external_id",
        // Alert-only properties; the parser never produces them for indicators.
        _ => "NULL",
    }
}

pub(super) fn subject_column(entity: Entity, subject: Subject) -> &'static str {
    match (entity, subject) {
        (Entity::Alert, Subject::Field(field)) => super::detections::alert_column(field),
        (_, Subject::Field(field)) => column(field),
        (_, Subject::Element(Field::RbacGroupNames)) => "g.group_name",
        (_, Subject::Element(_)) => "e.value",
    }
}

pub(super) fn bind(values: &mut Vec<SqlValue>, value: SqlValue) -> String {
    values.push(value);
    format!("?{}", values.len())
}

pub(super) fn literal_value(literal: &Literal) -> SqlValue {
    match literal {
        Literal::Null => SqlValue::Null,
        Literal::Text(text) => SqlValue::Text(text.clone()),
        Literal::Integer(n) => SqlValue::Integer(*n),
        Literal::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Literal::DateTime(t) => SqlValue::Integer(t.ticks()),
    }
}

/// Renders a filter as a SQL condition over the alias `i` (indicators) or `a` (alerts),
/// binding every literal.
pub(super) fn render_filter(
    entity: Entity,
    filter: &Filter,
    tenant_no: i64,
    sql: &mut String,
    values: &mut Vec<SqlValue>,
) {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            render_filter(entity, left, tenant_no, sql, values);
            sql.push_str(joiner);
            render_filter(entity, right, tenant_no, sql, values);
            sql.push(')');
        }
        Filter::Not(inner) => {
            sql.push_str("NOT (");
            render_filter(entity, inner, tenant_no, sql, values);
            sql.push(')');
        }
        Filter::Compare {
            subject: Subject::Field(Field::IndicatorValue),
            op: CompareOp::Eq,
            value: Literal::Text(text),
        } if entity == Entity::Indicator => {
            // Equality on the value goes through the hashed key index.
            let hash = bind(values, SqlValue::Integer(value_hash(text)));
            let text = bind(values, SqlValue::Text(text.clone()));
            sql.push_str(&format!(
                "(i.value_hash = {hash} AND i.indicator_value = {text})"
            ));
        }
        Filter::Compare { subject, op, value } => {
            let column = subject_column(entity, *subject);
            let operator = match (op, value) {
                (CompareOp::Eq, Literal::Null) => "IS",
                (CompareOp::Ne, _) => "IS NOT",
                _ => op.sql(),
            };
            let placeholder = bind(values, literal_value(value));
            sql.push_str(&format!("{column} {operator} {placeholder}"));
        }
        Filter::AnyOf {
            subject,
            values: options,
        } => {
            let column = subject_column(entity, *subject);
            let placeholders: Vec<String> = options
                .iter()
                .map(|o| bind(values, literal_value(o)))
                .collect();
            sql.push_str(&format!("{column} IN ({})", placeholders.join(", ")));
        }
        Filter::Function {
            function,
            subject,
            value,
        } => {
            let column = subject_column(entity, *subject);
            if value.is_empty() {
                sql.push_str(&format!("{column} IS NOT NULL"));
                return;
            }
            let length = bind(values, SqlValue::Integer(value.chars().count() as i64));
            let text = bind(values, SqlValue::Text(value.clone()));
            let condition = match function {
                StringFunction::StartsWith => format!("substr({column}, 1, {length}) = {text}"),
                StringFunction::EndsWith => format!("substr({column}, -{length}) = {text}"),
                StringFunction::Contains => format!("instr({column}, {text}) > 0 AND {length} > 0"),
            };
            sql.push_str(&condition);
        }
        Filter::Any {
            collection,
            predicate,
        } => {
            let mut inner = String::new();
            render_filter(entity, predicate, tenant_no, &mut inner, values);
            if *collection == Field::RbacGroupNames {
                let tenant = bind(values, SqlValue::Integer(tenant_no));
                sql.push_str(&format!(
                    "i.id IN (SELECT g.id FROM indicator_groups g WHERE g.tenant_no = {tenant} AND ({inner}))"
                ));
            } else {
                sql.push_str(&format!(
                    "EXISTS (SELECT 1 FROM json_each(i.rbac_group_ids) e WHERE {inner})"
                ));
            }
        }
    }
}

pub(super) fn order_sql(keys: &[OrderKey]) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|key| {
            let expression = if key.field == Field::Severity {
                "CASE i.severity WHEN 'Informational' THEN 0 WHEN 'Low' THEN 1 WHEN 'Medium' THEN 2 ELSE 3 END".to_owned()
            } else if key.field == Field::Id {
                // Row ids follow ids within a tenant, and ordering by them needs no sort.
                "i.pk".to_owned()
            } else {
                column(key.field).to_owned()
            };
            format!("{expression} {}", if key.descending { "DESC" } else { "ASC" })
        })
        .collect();
    if !keys.iter().any(|k| k.field == Field::Id) {
        parts.push("i.pk ASC".to_owned());
    }
    parts.join(", ")
}
