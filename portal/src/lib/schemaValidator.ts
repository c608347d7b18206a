// A react-jsonschema-form validator on @cfworker/json-schema. The usual AJV validator compiles
// schemas into functions with `new Function`, which the portal's Content-Security-Policy
// (script-src 'self', no 'unsafe-eval') forbids; this one interprets the schema instead. The
// controller validates the inputs again when the run is created, so this only has to give the
// person early, field-level feedback.
import { Validator, type OutputUnit, type Schema } from "@cfworker/json-schema";
import {
  createErrorHandler,
  toErrorSchema,
  unwrapErrorHandler,
  validationDataMerge,
  type CustomValidator,
  type ErrorTransformer,
  type RJSFSchema,
  type RJSFValidationError,
  type UiSchema,
  type ValidationData,
  type ValidatorType,
} from "@rjsf/utils";

/** `#/a/0/b` (a JSON pointer in the instance) → `.a[0].b` (the property path rjsf expects). */
export function pointerToProperty(pointer: string): string {
  const parts = pointer.replace(/^#/, "").split("/").slice(1);
  return parts
    .map((raw) => raw.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `['${p.replace(/'/g, "\\'")}']`))
    .join("");
}

// Keywords that only report that something nested failed; the nested error is reported too.
const WRAPPERS = new Set(["properties", "items", "prefixItems", "allOf", "$ref", "additionalItems", "unevaluatedProperties", "dependentSchemas", "then", "else", "if", "contains"]);

function plainMessage(u: OutputUnit): string {
  // cfworker words errors as "Instance does not match …"; say it from the person's side.
  const m = /does not have required property "([^"]+)"/.exec(u.error);
  if (m) return "is required";
  return u.error
    .replace(/^Instance (?:type )?/, "")
    .replace(/^"[^"]*" /, "")
    .replace(/\.$/, "");
}

/** Field-level errors for `data` against `schema`. */
export function schemaErrors(schema: RJSFSchema, data: unknown): RJSFValidationError[] {
  let result;
  try {
    result = new Validator(schema as Schema, "2020-12", false).validate(data);
  } catch (e) {
    return [{ name: "schema", message: `the action's input schema cannot be used: ${(e as Error).message}`, property: "", stack: String(e) }];
  }
  if (result.valid) return [];
  const errors: RJSFValidationError[] = [];
  const seen = new Set<string>();
  for (const u of result.errors) {
    if (WRAPPERS.has(u.keyword)) continue;
    let property = pointerToProperty(u.instanceLocation);
    const missing = /does not have required property "([^"]+)"/.exec(u.error);
    if (missing) property += pointerToProperty(`#/${missing[1]!.replace(/~/g, "~0").replace(/\//g, "~1")}`);
    const message = plainMessage(u);
    const key = `${property}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    errors.push({ name: u.keyword, property, message, schemaPath: u.keywordLocation, stack: `${property || "input"} ${message}`.trim() });
  }
  return errors;
}

export const schemaValidator: ValidatorType = {
  validateFormData(
    formData: unknown,
    schema: RJSFSchema,
    customValidate?: CustomValidator,
    transformErrors?: ErrorTransformer,
    uiSchema?: UiSchema,
  ): ValidationData<unknown> {
    let errors = schemaErrors(schema, formData);
    if (transformErrors) errors = transformErrors(errors, uiSchema);
    const data: ValidationData<unknown> = { errors, errorSchema: toErrorSchema(errors) };
    if (!customValidate) return data;
    const handler = customValidate(formData, createErrorHandler(formData), uiSchema);
    return validationDataMerge(data, unwrapErrorHandler(handler));
  },
  isValid(schema: RJSFSchema, formData: unknown, rootSchema: RJSFSchema) {
    // rjsf asks this for oneOf/anyOf branches, which may `$ref` the root's definitions.
    const withDefs = { ...schema, $defs: rootSchema.$defs, definitions: rootSchema.definitions } as RJSFSchema;
    try {
      return new Validator(withDefs as Schema, "2020-12", true).validate(formData).valid;
    } catch {
      return false;
    }
  },
  rawValidation(schema: RJSFSchema, formData?: unknown) {
    return { errors: schemaErrors(schema, formData) as never[] };
  },
};
