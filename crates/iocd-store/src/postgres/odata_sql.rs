//! OData filters and orders rendered as PostgreSQL over the alias `i` (indicators) or `a`
//! (alerts; the same column names as SQLite's). No text
//! from a query reaches the SQL: every literal is a bound parameter, typed as its column is.

use crate::odata::{CompareOp, Entity, Field, Filter, Literal, OrderKey, StringFunction, Subject};
use postgres::types::ToSql;

/// Bound parameters of a statement, in `$1, $2, …` order.
pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// `params` as the slice the client takes.
pub(super) fn as_refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn column(field: Field) -> &'static str {
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

fn subject_column(entity: Entity, subject: Subject) -> &'static str {
    match (entity, subject) {
        (Entity::Alert, Subject::Field(field)) => crate::sqlite::alert_column(field),
        (_, Subject::Field(field)) => column(field),
        (_, Subject::Element(Field::RbacGroupNames)) => "g.group_name",
        // Elements of the JSON list of group ids.
        (_, Subject::Element(_)) => "e.value",
    }
}

pub(super) fn bind(params: &mut Params, value: Box<dyn ToSql + Sync + Send>) -> String {
    params.push(value);
    format!("${}", params.len())
}

/// A literal as a parameter of its column's type: text, `BIGINT` (numbers, times as ticks)
/// or `BOOLEAN`. `None` for `null`, which is written into the SQL as `IS [NOT] NULL`.
fn literal(value: &Literal) -> Option<Box<dyn ToSql + Sync + Send>> {
    match value {
        Literal::Null => None,
        Literal::Text(text) => Some(Box::new(text.clone())),
        Literal::Integer(n) => Some(Box::new(*n)),
        Literal::Bool(b) => Some(Box::new(*b)),
        Literal::DateTime(t) => Some(Box::new(t.ticks())),
    }
}

/// Renders a filter as a SQL condition over the alias `i` or `a`, binding every literal.
pub(super) fn render_filter(
    entity: Entity,
    filter: &Filter,
    tenant_no: i64,
    sql: &mut String,
    params: &mut Params,
) {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            render_filter(entity, left, tenant_no, sql, params);
            sql.push_str(joiner);
            render_filter(entity, right, tenant_no, sql, params);
            sql.push(')');
        }
        Filter::Not(inner) => {
            sql.push_str("NOT (");
            render_filter(entity, inner, tenant_no, sql, params);
            sql.push(')');
        }
        Filter::Compare {
            subject: Subject::Field(Field::IndicatorValue),
            op: CompareOp::Eq,
            value: Literal::Text(text),
        } if entity == Entity::Indicator => {
            // Equality on the value goes through the index on the value's hash.
            let hash = bind(params, Box::new(crate::sqlite::value_hash(text)));
            let text = bind(params, Box::new(text.clone()));
            sql.push_str(&format!(
                "(i.value_hash = {hash} AND i.indicator_value = {text})"
            ));
        }
        Filter::Compare { subject, op, value } => {
            let column = subject_column(entity, *subject);
            let column = if *subject == Subject::Element(Field::RbacGroupIds) {
                "(e.value)::bigint"
            } else {
                column
            };
            match (op, literal(value)) {
                (CompareOp::Eq, None) => sql.push_str(&format!("{column} IS NULL")),
                (_, None) => sql.push_str(&format!("{column} IS NOT NULL")),
                (CompareOp::Ne, Some(value)) => {
                    let placeholder = bind(params, value);
                    sql.push_str(&format!("{column} IS DISTINCT FROM {placeholder}"));
                }
                (op, Some(value)) => {
                    let placeholder = bind(params, value);
                    sql.push_str(&format!("{column} {} {placeholder}", op.sql()));
                }
            }
        }
        Filter::AnyOf { subject, values } => {
            let column = subject_column(entity, *subject);
            let placeholders: Vec<String> = values
                .iter()
                .filter_map(literal)
                .map(|value| bind(params, value))
                .collect();
            if placeholders.is_empty() {
                sql.push_str("FALSE");
            } else {
                sql.push_str(&format!("{column} IN ({})", placeholders.join(", ")));
            }
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
            let text = bind(params, Box::new(value.clone()));
            sql.push_str(&match function {
                StringFunction::StartsWith => format!("starts_with({column}, {text})"),
                StringFunction::EndsWith => {
                    format!("right({column}, char_length({text})) = {text}")
                }
                StringFunction::Contains => format!("strpos({column}, {text}) > 0"),
            });
        }
        Filter::Any {
            collection,
            predicate,
        } => {
            let mut inner = String::new();
            render_filter(entity, predicate, tenant_no, &mut inner, params);
            if *collection == Field::RbacGroupNames {
                let tenant = bind(params, Box::new(tenant_no));
                sql.push_str(&format!(
                    "i.id IN (SELECT g.id FROM indicator_groups g WHERE g.tenant_no = {tenant} AND ({inner}))"
                ));
            } else {
                sql.push_str(&format!(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements(i.rbac_group_ids::jsonb) e(value) WHERE {inner})"
                ));
            }
        }
    }
}

/// `ORDER BY` keys over the alias `i` (or `a` for alerts), ending with the id. Text sorts by
/// code point, as SQLite's does, whatever the database's collation.
pub(super) fn order_sql(entity: Entity, keys: &[OrderKey]) -> String {
    let alias = if entity == Entity::Alert { "a" } else { "i" };
    let mut parts: Vec<String> = keys
        .iter()
        .map(|key| {
            let direction = if key.descending { "DESC" } else { "ASC" };
            if key.field == Field::Severity {
                return format!(
                    "CASE {alias}.severity WHEN 'Informational' THEN 0 WHEN 'Low' THEN 1 WHEN 'Medium' THEN 2 ELSE 3 END {direction}"
                );
            }
            let expression = subject_column(entity, Subject::Field(key.field));
            let numeric = matches!(
                key.field,
                Field::Id
                    | Field::ExpirationTime
                    | Field::CreationTimeDateTimeUtc
                    | Field::LastUpdateTime
                    | Field::Category
                    | Field::GenerateAlert
                    | Field::AlertCreationTime
                    | Field::FirstEventTime
                    | Field::LastEventTime
                    | Field::EventCount
                    | Field::IndicatorId
            );
            let collate = if numeric { "" } else { " COLLATE \"C\"" };
            format!("{expression}{collate} {direction}")
        })
        .collect();
    if !keys.iter().any(|k| k.field == Field::Id) {
        parts.push(format!("{alias}.id ASC"));
    }
    parts.join(", ")
}
