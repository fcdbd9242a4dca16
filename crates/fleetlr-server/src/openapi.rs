//! What the OpenAPI document says beyond the handlers' annotations: the refusals every route
//! can give before its handler runs (a request that cannot be read, a body too large or not
//! JSON), and the exact values of parameters the store knows (states, roles), so a client or a
//! fuzzer generating from the document sends only what the API accepts.

use fleetlr_store::{Role, RunState, TargetState};
use utoipa::Modify;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};

pub(crate) struct Refusals;

impl Modify for Refusals {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let states = match path.as_str() {
                "/api/v1/runs" => Some(RunState::ALL),
                "/api/v1/runs/{id}/targets" => Some(TargetState::ALL),
                _ => None,
            };
            for operation in operations(item) {
                if let Some(states) = states {
                    constrain_query(operation, "state", string_values(states));
                }
                // Clamped to what one answer holds; any u32 is accepted, a bigger number is a 400.
                let mut limit = Object::with_type(Type::Integer);
                limit.minimum = Some(0.into());
                limit.maximum = Some(u32::MAX.into());
                constrain_query(operation, "limit", limit);
                add_refusal(
                    operation,
                    "400",
                    "the request's path, query or body cannot be read",
                );
                if operation.request_body.is_some() || operation.parameters.is_some() {
                    add_refusal(operation, "422", "a value in the request is refused");
                }
                if operation.request_body.is_some() {
                    add_refusal(
                        operation,
                        "413",
                        "the body is larger than the daemon accepts",
                    );
                    add_refusal(operation, "415", "the body is not `application/json`");
                }
            }
        }
        let new_token = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("NewToken"));
        if let Some(RefOr::T(Schema::Object(token))) = new_token
            && let Some(RefOr::T(Schema::Object(role))) = token.properties.get_mut("role")
        {
            *role = string_values(Role::ALL);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.delete]
        .into_iter()
        .filter_map(Option::as_mut)
}

fn add_refusal(operation: &mut Operation, status: &str, description: &str) {
    let error = Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))));
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content("application/json", error)
                .into()
        });
}

fn string_values(values: &[&str]) -> Object {
    let mut schema = Object::with_type(Type::String);
    schema.enum_values = Some(values.iter().map(|&v| v.into()).collect());
    schema
}

fn constrain_query(operation: &mut Operation, name: &str, schema: Object) {
    let parameter = operation
        .parameters
        .iter_mut()
        .flatten()
        .find_map(|p| match p {
            RefOr::T(p) if p.name == name => Some(p),
            _ => None,
        });
    if let Some(parameter) = parameter {
        parameter.schema = Some(RefOr::T(Schema::Object(schema)));
    }
}
