using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Warren.Edge.Acme;

/// <summary>
/// The protocol half of ACME (RFC 8555): directory, nonces, account, orders, authorizations, challenges, finalize,
/// download, and renewal information (RFC 9773). It knows nothing of hostnames, schedules or storage; one instance
/// serves one CA and one account key. Every request is a JWS POST (§6.2) except the directory, newNonce and
/// renewalInfo GETs; a badNonce answer is retried with the nonce it carried (§6.5), a few times.
/// </summary>
internal sealed class AcmeClient : IDisposable
{
    private const int MaxBadNonceRetries = 5;
    private const string JoseJson = "application/jose+json";

    private readonly HttpClient _http;
    private readonly Uri _directoryUrl;
    private readonly JwsSigner _signer;
    private readonly Lock _nonceLock = new();
    private readonly Stack<string> _nonces = new();
    private AcmeDirectory? _directory;

    public AcmeClient(Uri directoryUrl, JwsSigner signer, HttpMessageHandler handler)
    {
        _directoryUrl = directoryUrl;
        _signer = signer;
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        // RFC 8555 §6.1: clients send a User-Agent.
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("warren-acme", "1"));
    }

    /// <summary>
    /// The HTTP handler the edge uses towards the CA: the system's roots, or only those of <paramref name="caBundle"/>
    /// (a private CA, or Pebble in tests).
    /// </summary>
    public static SocketsHttpHandler CreateHandler(string? caBundle)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30), ConnectTimeout = TimeSpan.FromSeconds(15) };
        if (caBundle is not null)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.ImportFromPemFile(caBundle);
            handler.SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy };
        }
        return handler;
    }

    public JwsSigner Signer => _signer;

    /// <summary>The account URL (the JWS kid), known once <see cref="NewAccountAsync"/> succeeded or was given.</summary>
    public Uri? AccountUrl { get; set; }

    public async Task<AcmeDirectory> GetDirectoryAsync(CancellationToken cancellationToken)
    {
        if (_directory is { } cached)
        {
            return cached;
        }
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, _directoryUrl), cancellationToken).ConfigureAwait(false);
        var directory = await ReadAsync(response, AcmeJson.Default.AcmeDirectory, cancellationToken).ConfigureAwait(false);
        if (directory.NewNonce is null || directory.NewAccount is null || directory.NewOrder is null)
        {
            throw new AcmeException($"{_directoryUrl} is not an ACME directory (newNonce, newAccount and newOrder are required, RFC 8555 §7.1.1)");
        }
        return _directory = directory;
    }

    /// <summary>
    /// Creates the account, or finds the existing one for this key (RFC 8555 §7.3, §7.3.1: the CA answers 200 with the
    /// same URL). <paramref name="onlyReturnExisting"/> never creates.
    /// </summary>
    public async Task<Uri> NewAccountAsync(string? email, (string Kid, byte[] MacKey)? eab, bool onlyReturnExisting, CancellationToken cancellationToken)
    {
        var directory = await GetDirectoryAsync(cancellationToken).ConfigureAwait(false);
        var payload = new JsonObject();
        if (onlyReturnExisting)
        {
            payload["onlyReturnExisting"] = true;
        }
        else
        {
            payload["termsOfServiceAgreed"] = true;
            if (email is not null)
            {
                payload["contact"] = new JsonArray("mailto:" + email);
            }
            if (eab is { } binding)
            {
                payload["externalAccountBinding"] = _signer.ExternalAccountBinding(binding.Kid, binding.MacKey, directory.NewAccount!);
            }
            else if (directory.Meta?.ExternalAccountRequired == true)
            {
                throw new AcmeException("the CA requires external account binding: set acme.eab_kid and acme.eab_hmac_key (the CA's dashboard gives them)", AcmeException.ErrorPrefix + "externalAccountRequired");
            }
        }
        using var response = await PostAsync(directory.NewAccount!, payload, useKid: false, cancellationToken).ConfigureAwait(false);
        var location = response.Headers.Location ?? throw new AcmeException("the CA created the account but sent no Location (RFC 8555 §7.3)");
        AccountUrl = location;
        return location;
    }

    public async Task<AcmeOrder> NewOrderAsync(IEnumerable<string> names, string? replaces, CancellationToken cancellationToken)
    {
        var directory = await GetDirectoryAsync(cancellationToken).ConfigureAwait(false);
        var payload = new JsonObject
        {
            ["identifiers"] = new JsonArray([.. names.Select(n => (JsonNode)new JsonObject { ["type"] = "dns", ["value"] = n })]),
        };
        if (replaces is not null && directory.RenewalInfo is not null)
        {
            payload["replaces"] = replaces; // RFC 9773 §5: tells the CA which certificate this one renews
        }
        using var response = await PostAsync(directory.NewOrder!, payload, useKid: true, cancellationToken).ConfigureAwait(false);
        var order = await ReadAsync(response, AcmeJson.Default.AcmeOrder, cancellationToken).ConfigureAwait(false);
        return order with { Url = response.Headers.Location ?? throw new AcmeException("the CA created the order but sent no Location (RFC 8555 §7.4)") };
    }

    public async Task<AcmeOrder> GetOrderAsync(Uri url, CancellationToken cancellationToken)
    {
        var (order, _) = await PostAsGetAsync(url, AcmeJson.Default.AcmeOrder, cancellationToken).ConfigureAwait(false);
        return order with { Url = url };
    }

    /// <summary>The order and the CA's Retry-After, for polling (RFC 8555 §7.4).</summary>
    public async Task<(AcmeOrder Order, TimeSpan? RetryAfter)> PollOrderAsync(Uri url, CancellationToken cancellationToken)
    {
        var (order, retryAfter) = await PostAsGetAsync(url, AcmeJson.Default.AcmeOrder, cancellationToken).ConfigureAwait(false);
        return (order with { Url = url }, retryAfter);
    }

    public async Task<(AcmeAuthorization Authorization, TimeSpan? RetryAfter)> GetAuthorizationAsync(Uri url, CancellationToken cancellationToken) =>
        await PostAsGetAsync(url, AcmeJson.Default.AcmeAuthorization, cancellationToken).ConfigureAwait(false);

    /// <summary>Tells the CA the challenge is ready to be checked (RFC 8555 §7.5.1: an empty JSON object).</summary>
    public async Task RespondAsync(Uri challengeUrl, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(challengeUrl, new JsonObject(), useKid: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends the CSR (DER) to the order's finalize URL (RFC 8555 §7.4).</summary>
    public async Task<AcmeOrder> FinalizeAsync(AcmeOrder order, byte[] csr, CancellationToken cancellationToken)
    {
        var payload = new JsonObject { ["csr"] = JwsSigner.Base64Url(csr) };
        using var response = await PostAsync(order.Finalize!, payload, useKid: true, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, AcmeJson.Default.AcmeOrder, cancellationToken).ConfigureAwait(false) with { Url = order.Url };
    }

    /// <summary>The certificate chain as PEM, leaf first (RFC 8555 §7.4.2).</summary>
    public async Task<string> DownloadCertificateAsync(Uri url, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(url, null, useKid: true, cancellationToken, accept: "application/pem-certificate-chain").ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The CA's suggested renewal window for <paramref name="certId"/> (RFC 9773 §4.1); null when it offers none.</summary>
    public async Task<RenewalInfo?> GetRenewalInfoAsync(string certId, CancellationToken cancellationToken)
    {
        var directory = await GetDirectoryAsync(cancellationToken).ConfigureAwait(false);
        if (directory.RenewalInfo is null)
        {
            return null;
        }
        var url = new Uri(directory.RenewalInfo.AbsoluteUri.TrimEnd('/') + "/" + certId);
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, url), cancellationToken).ConfigureAwait(false);
        var info = await ReadAsync(response, AcmeJson.Default.RenewalInfo, cancellationToken).ConfigureAwait(false);
        return info with { RetryAfter = RetryAfter(response) };
    }

    private async Task<(T Value, TimeSpan? RetryAfter)> PostAsGetAsync<T>(Uri url, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(url, null, useKid: true, cancellationToken).ConfigureAwait(false);
        return (await ReadAsync(response, type, cancellationToken).ConfigureAwait(false), RetryAfter(response));
    }

    private async Task<HttpResponseMessage> PostAsync(Uri url, JsonNode? payload, bool useKid, CancellationToken cancellationToken, string? accept = null)
    {
        Uri? kid = null;
        if (useKid)
        {
            kid = AccountUrl ?? throw new InvalidOperationException("no ACME account yet");
        }
        for (var attempt = 0; ; attempt++)
        {
            var nonce = await TakeNonceAsync(cancellationToken).ConfigureAwait(false);
            var body = new ByteArrayContent(_signer.Sign(url, nonce, payload, kid));
            body.Headers.ContentType = new MediaTypeHeaderValue(JoseJson);
            var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = body };
            if (accept is not null)
            {
                request.Headers.Accept.ParseAdd(accept);
            }
            try
            {
                return await SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (AcmeException ex) when (ex.IsBadNonce && attempt < MaxBadNonceRetries)
            {
                // RFC 8555 §6.5: a badNonce answer carries a fresh nonce (kept by SendAsync); retry with it.
            }
        }
    }

    /// <summary>Sends, keeps the Replay-Nonce, and turns every non-2xx answer into an <see cref="AcmeException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        using (request)
        {
            try
            {
                response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                throw new AcmeException($"could not reach the CA at {request.RequestUri?.GetLeftPart(UriPartial.Authority)}: {ex.Message}", "connection", inner: ex);
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new AcmeException($"the CA at {request.RequestUri?.GetLeftPart(UriPartial.Authority)} did not answer within {_http.Timeout.TotalSeconds:0} s", "timeout", inner: ex);
            }
        }
        if (response.Headers.TryGetValues("Replay-Nonce", out var nonces) && nonces.FirstOrDefault() is { Length: > 0 } nonce)
        {
            lock (_nonceLock)
            {
                _nonces.Push(nonce);
            }
        }
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            AcmeProblem? problem = null;
            try
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                problem = text.Length > 0 && text.Length < 65536 ? JsonSerializer.Deserialize(text, AcmeJson.Default.AcmeProblem) : null;
            }
            catch (JsonException)
            {
            }
            var message = problem is null
                ? $"the CA answered {(int)response.StatusCode} {response.ReasonPhrase} to {request.Method} {request.RequestUri?.AbsolutePath}"
                : problem.ToString();
            throw new AcmeException(message, problem?.Type, response.StatusCode, RetryAfter(response));
        }
    }

    private async Task<string> TakeNonceAsync(CancellationToken cancellationToken)
    {
        lock (_nonceLock)
        {
            if (_nonces.TryPop(out var nonce))
            {
                return nonce;
            }
        }
        var directory = await GetDirectoryAsync(cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Head, directory.NewNonce), cancellationToken).ConfigureAwait(false);
        lock (_nonceLock)
        {
            return _nonces.TryPop(out var nonce) ? nonce : throw new AcmeException("the CA's newNonce answered without a Replay-Nonce (RFC 8555 §7.2)");
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
                ?? throw new AcmeException($"the CA answered {response.RequestMessage?.RequestUri?.AbsolutePath} with an empty body");
        }
        catch (JsonException ex)
        {
            throw new AcmeException($"the CA's answer to {response.RequestMessage?.RequestUri?.AbsolutePath} is not the expected JSON: {ex.Message}", inner: ex);
        }
    }

    /// <summary>Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), capped at a day so a bad value cannot park renewal.</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        var value = header?.Delta ?? (header?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        return value is { } span ? TimeSpan.FromTicks(Math.Clamp(span.Ticks, 0, TimeSpan.FromDays(1).Ticks)) : null;
    }

    public void Dispose() => _http.Dispose();
}
