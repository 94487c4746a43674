using System.Net;
using System.Net.Http;

namespace Warren.FaultTests.Harness;

/// <summary>Downloads of the sample backend's /bytes/{n}, every byte checked as it arrives.</summary>
internal static class ClientDownload
{
    /// <summary>
    /// GETs {<paramref name="prefix"/>}/bytes/<paramref name="size"/> through the edge and fails unless all of it
    /// arrives byte-exact.
    /// </summary>
    public static async Task VerifiedAsync(WarrenHarness tunnel, HttpClient client, long size, CancellationToken cancellationToken, string host = WarrenHarness.AppHost, string prefix = "")
    {
        using var request = tunnel.Request(HttpMethod.Get, $"{prefix}/bytes/{size}", host);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size, response.Content.Headers.ContentLength);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        Assert.Equal(size, await ReadVerifiedAsync(body, new Mod251Verifier(), long.MaxValue, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Reads and checks up to <paramref name="limit"/> more bytes or to the end; returns the total verified so far.</summary>
    public static async Task<long> ReadVerifiedAsync(Stream body, Mod251Verifier verifier, long limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var target = limit == long.MaxValue ? long.MaxValue : verifier.Verified + limit;
        while (verifier.Verified < target)
        {
            var n = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, target - verifier.Verified)), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            verifier.Check(buffer.AsSpan(0, n));
        }
        return verifier.Verified;
    }
}
