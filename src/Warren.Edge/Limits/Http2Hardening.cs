using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Warren.Edge.Limits;

/// <summary>
/// HTTP/2 limits of the public HTTPS listener, set explicitly rather than assumed (docs/security.md "HTTP/2"). The
/// values are Kestrel's own defaults, each chosen for the floods that hit HTTP/2 servers; naming them here keeps a
/// Kestrel upgrade from moving them silently, and tests/Warren.SecurityTests/Http2AttackTests.cs attacks each one.
/// </summary>
internal static class Http2Hardening
{
    /// <summary>Concurrent streams a client may open on one connection. Rapid reset (CVE-2023-44487) also rides on it: Kestrel keeps counting a reset stream until its request ends, and past this many answers ENHANCE_YOUR_CALM, then closes the connection.</summary>
    public const int MaxStreamsPerConnection = 100;

    /// <summary>HPACK dynamic table the client may fill (RFC 7541 default); a larger table update is a COMPRESSION_ERROR.</summary>
    public const int HeaderTableSize = 4096;

    /// <summary>Largest single header field after HPACK (and Huffman) decoding: an HPACK bomb cannot grow one field past it.</summary>
    public const int MaxRequestHeaderFieldSize = 16 * 1024;

    /// <summary>Largest frame payload the client may send (the protocol's minimum, RFC 9113 §4.2).</summary>
    public const int MaxFrameSize = 16 * 1024;

    /// <summary>Request body bytes one connection may have in flight before the edge reads them.</summary>
    public const int InitialConnectionWindowSize = 1024 * 1024;

    /// <summary>Request body bytes one stream may have in flight: 3/4 of the connection window, so one upload cannot take it all.</summary>
    public const int InitialStreamWindowSize = 768 * 1024;

    public static void Apply(Http2Limits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.MaxStreamsPerConnection = MaxStreamsPerConnection;
        limits.HeaderTableSize = HeaderTableSize;
        limits.MaxRequestHeaderFieldSize = MaxRequestHeaderFieldSize;
        limits.MaxFrameSize = MaxFrameSize;
        limits.InitialConnectionWindowSize = InitialConnectionWindowSize;
        limits.InitialStreamWindowSize = InitialStreamWindowSize;
        // The total decoded size of a request's headers (HPACK bombs, CONTINUATION floods) is bounded by
        // KestrelServerLimits.MaxRequestHeadersTotalSize (32 KiB), set in EdgeServer for every protocol.
    }
}
