using System.Text.Json.Serialization;
using Warren.Edge.RequestLog;

namespace Warren.Edge.Admin.Console;

/// <summary>
/// The console's JSON, source-generated (no reflection, as in AdminJson): the request log's search results with
/// snake_case names (/console/api/requests) and the traffic charts' data arrays.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(IReadOnlyList<LoggedRequest>))]
[JsonSerializable(typeof(double[][]))]
internal sealed partial class ConsoleJson : JsonSerializerContext;
