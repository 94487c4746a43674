using Warren.Protocol.Framing;

namespace Warren.Protocol.Session;

/// <summary>Why a session ended: the error code (also a metric label), who decided, and a human reason.</summary>
public sealed record SessionCloseInfo(ErrorCode Code, bool ByPeer, string Reason)
{
    public override string ToString() => $"{Code} ({(ByPeer ? "peer" : "local")}): {Reason}";
}
