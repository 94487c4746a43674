using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warren.Configuration;

/// <summary>
/// A policy as JSON, as it travels in an agent's registration (docs/protocol.md §10.2): the YAML names, durations as
/// "1500ms". Unknown fields are refused, never ignored: an edge that does not know a rule must not publish the
/// service without it. Nulls where the records promise values are refused too (the edge does not trust the agent).
/// </summary>
public static class PolicyJson
{
    public static JsonElement Serialize(PolicyConfig policy) =>
        JsonSerializer.SerializeToElement(policy, PolicyJsonContext.Default.PolicyConfig);

    /// <summary>The policy, or a <see cref="JsonException"/> saying what is malformed.</summary>
    public static PolicyConfig Deserialize(JsonElement json)
    {
        var policy = json.Deserialize(PolicyJsonContext.Default.PolicyConfig) ?? throw new JsonException("the policy is null");
        return Normalize(policy);
    }

    private static PolicyConfig Normalize(PolicyConfig p) => p with
    {
        Use = Items(p.Use, "use"),
        Ip = p.Ip is { } ip ? ip with { Allow = Items(ip.Allow, "ip.allow"), Deny = Items(ip.Deny, "ip.deny") } : null,
        BasicAuth = p.BasicAuth is { } b ? b with { Realm = b.Realm ?? new BasicAuthConfig().Realm, Users = Items(b.Users, "basic_auth.users") } : null,
        ApiKeys = p.ApiKeys is { } k ? k with { KeysSha256 = Items(k.KeysSha256, "api_keys.keys_sha256") } : null,
        Jwt = p.Jwt is { } j ? j with
        {
            Issuer = j.Issuer ?? "",
            Audiences = Items(j.Audiences, "jwt.audiences"),
            RequiredClaims = Values(j.RequiredClaims, "jwt.required_claims"),
            IdentityHeaders = Values(j.IdentityHeaders, "jwt.identity_headers"),
        } : null,
        Oidc = p.Oidc is { } o ? o with
        {
            Issuer = o.Issuer ?? "",
            ClientId = o.ClientId ?? "",
            Scopes = Items(o.Scopes, "oidc.scopes"),
            CallbackPath = o.CallbackPath ?? "",
            LogoutPath = o.LogoutPath ?? "",
            AllowedEmails = Items(o.AllowedEmails, "oidc.allowed_emails"),
            AllowedDomains = Items(o.AllowedDomains, "oidc.allowed_domains"),
            AllowedGroups = Items(o.AllowedGroups, "oidc.allowed_groups"),
            GroupsClaim = o.GroupsClaim ?? "",
            IdentityHeaders = Values(o.IdentityHeaders, "oidc.identity_headers"),
        } : null,
        ForwardAuth = p.ForwardAuth is { } f ? f with
        {
            Url = f.Url ?? "",
            CopyHeaders = Items(f.CopyHeaders, "forward_auth.copy_headers"),
            ForwardHeaders = Items(f.ForwardHeaders, "forward_auth.forward_headers"),
        } : null,
        RequestHeaders = Headers(p.RequestHeaders, "request_headers"),
        ResponseHeaders = Headers(p.ResponseHeaders, "response_headers"),
        Cors = p.Cors is { } c ? c with
        {
            Origins = Items(c.Origins, "cors.origins"),
            Methods = Items(c.Methods, "cors.methods"),
            Headers = Items(c.Headers, "cors.headers"),
            ExposeHeaders = Items(c.ExposeHeaders, "cors.expose_headers"),
        } : null,
        ErrorPages = Values(p.ErrorPages, "error_pages"),
    };

    private static HeaderRulesConfig? Headers(HeaderRulesConfig? rules, string path) =>
        rules is null ? null : rules with { Set = Values(rules.Set, path + ".set"), Remove = Items(rules.Remove, path + ".remove") };

    private static IReadOnlyList<string> Items(IReadOnlyList<string>? list, string path) =>
        list is null ? [] : list.Any(i => i is null) ? throw new JsonException($"{path}: an item is null") : list;

    private static IReadOnlyDictionary<string, string> Values(IReadOnlyDictionary<string, string>? map, string path) =>
        map is null ? new Dictionary<string, string>() : map.Values.Any(v => v is null) ? throw new JsonException($"{path}: a value is null") : map;
}

/// <summary>Durations on the wire are written as milliseconds with the unit ("1500ms") and read with the YAML syntax.</summary>
internal sealed class DurationJsonConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && ConfigFormats.TryParseDuration(reader.GetString(), out var value)
            ? value
            : throw new JsonException("a duration must be a string such as \"1500ms\" or \"10s\"");

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
        writer.WriteStringValue(((long)value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    Converters = [typeof(DurationJsonConverter)])]
[JsonSerializable(typeof(PolicyConfig))]
internal sealed partial class PolicyJsonContext : JsonSerializerContext;
