using System.Net;

namespace Warren.Edge.Shield;

/// <summary>
/// One banned client address or network (<see cref="BanKey"/>): until when, why, and since when (docs/policy.md, "Abuse
/// shield").
/// </summary>
internal sealed record BanEntry(IPNetwork Network, DateTimeOffset Until, string Reason, DateTimeOffset BannedAt);
