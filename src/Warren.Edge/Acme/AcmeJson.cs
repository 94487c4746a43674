using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>account.json in the certificate store: the account's URL at the CA, and the contact it registered.</summary>
internal sealed record AccountFile(
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("email")] string? Email);

/// <summary>
/// The ACME objects the client reads and the account file it writes, source-generated (no reflection). Web defaults,
/// as the client read them before: names matched without regard to case, numbers also from strings.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AcmeDirectory))]
[JsonSerializable(typeof(AcmeOrder))]
[JsonSerializable(typeof(AcmeAuthorization))]
[JsonSerializable(typeof(AcmeProblem))]
[JsonSerializable(typeof(RenewalInfo))]
[JsonSerializable(typeof(AccountFile))]
internal sealed partial class AcmeJson : JsonSerializerContext;
