using System.Text.Json.Serialization;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Routing;

/// <summary>How Routing/KnownServices.cs writes a registration into warren.db: the agent's own JSON names (docs/protocol.md §10.2).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServiceRegistration))]
internal sealed partial class KnownServicesJson : JsonSerializerContext;
