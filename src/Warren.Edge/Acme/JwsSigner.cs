using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warren.Edge.Acme;

/// <summary>
/// Signs ACME requests as flattened JWS (RFC 7515 §7.2.2) with the account's P-256 key and ES256, as RFC 8555 §6.2
/// requires: the protected header carries alg, nonce, url and either the public key (jwk, for newAccount) or the
/// account URL (kid, everything after). Also the key's thumbprint (RFC 7638) for key authorizations (RFC 8555 §8.1).
/// </summary>
internal sealed class JwsSigner : IDisposable
{
    private readonly ECDsa _key;

    public JwsSigner(ECDsa key)
    {
        var parameters = key.ExportParameters(includePrivateParameters: false);
        if (parameters.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            throw new ArgumentException("the ACME account key must be an ECDSA P-256 key (ES256)", nameof(key));
        }
        _key = key;
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
        Jwk = new JsonObject
        {
            ["crv"] = "P-256",
            ["kty"] = "EC",
            ["x"] = Base64Url(parameters.Q.X!),
            ["y"] = Base64Url(parameters.Q.Y!),
        };
        Thumbprint = Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(Jwk.ToJsonString())));
    }

    /// <summary>The public key as a JWK.</summary>
    public JsonObject Jwk { get; }

    /// <summary>base64url(SHA-256(JWK)), the second half of every key authorization.</summary>
    public string Thumbprint { get; }

    /// <summary>RFC 8555 §8.1: token "." thumbprint.</summary>
    public string KeyAuthorization(string token) => token + "." + Thumbprint;

    /// <summary>
    /// The request body for <paramref name="url"/>. <paramref name="payload"/> null is POST-as-GET (RFC 8555 §6.3: an
    /// empty payload). <paramref name="kid"/> null puts the public key in the header instead (newAccount).
    /// </summary>
    public byte[] Sign(Uri url, string nonce, JsonNode? payload, Uri? kid)
    {
        var header = new JsonObject { ["alg"] = "ES256" };
        if (kid is null)
        {
            header["jwk"] = Jwk.DeepClone();
        }
        else
        {
            header["kid"] = kid.AbsoluteUri;
        }
        header["nonce"] = nonce;
        header["url"] = url.AbsoluteUri;
        var encodedHeader = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString()));
        var encodedPayload = payload is null ? "" : Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        // ES256 is the IEEE P1363 form (r || s, 64 bytes), which is what ECDsa.SignData returns by default.
        var signature = _key.SignData(Encoding.ASCII.GetBytes(encodedHeader + "." + encodedPayload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return Serialize(encodedHeader, encodedPayload, Base64Url(signature));
    }

    /// <summary>
    /// External account binding (RFC 8555 §7.3.4): the account's JWK signed with the CA-issued MAC key (HS256), so the
    /// CA ties the new account to the customer it gave <paramref name="kid"/> to.
    /// </summary>
    public JsonNode ExternalAccountBinding(string kid, byte[] macKey, Uri newAccountUrl)
    {
        var header = new JsonObject { ["alg"] = "HS256", ["kid"] = kid, ["url"] = newAccountUrl.AbsoluteUri };
        var encodedHeader = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString()));
        var encodedPayload = Base64Url(Encoding.UTF8.GetBytes(Jwk.ToJsonString()));
        var signature = HMACSHA256.HashData(macKey, Encoding.ASCII.GetBytes(encodedHeader + "." + encodedPayload));
        return JsonNode.Parse(Serialize(encodedHeader, encodedPayload, Base64Url(signature)))!;
    }

    public static string Base64Url(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    public static byte[] FromBase64Url(string text) => System.Buffers.Text.Base64Url.DecodeFromChars(text.TrimEnd('='));

    private static byte[] Serialize(string header, string payload, string signature)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("protected", header);
            writer.WriteString("payload", payload);
            writer.WriteString("signature", signature);
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public void Dispose() => _key.Dispose();
}
