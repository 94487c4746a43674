using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Warren.Edge.Acme;

namespace Warren.AcmeTests;

/// <summary>The schedule's arithmetic (docs/https.md "Renewal"), with the random part pinned to its extremes.</summary>
public sealed class RenewalScheduleTests
{
    private static readonly DateTimeOffset Issued = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RenewAt_is_two_thirds_of_the_lifetime_minus_up_to_a_fifteenth()
    {
        var expires = Issued.AddDays(90);

        Assert.Equal(Issued.AddDays(60), RenewalSchedule.RenewAt(Issued, expires, 0));
        Assert.Equal(Issued.AddDays(54), RenewalSchedule.RenewAt(Issued, expires, 1));
    }

    [Fact]
    public void InWindow_picks_a_moment_inside_the_CAs_window()
    {
        var window = new RenewalWindow { Start = Issued.AddDays(50), End = Issued.AddDays(52) };

        Assert.Equal(window.Start, RenewalSchedule.InWindow(window, 0));
        Assert.Equal(window.End, RenewalSchedule.InWindow(window, 1));
        Assert.Equal(Issued.AddDays(51), RenewalSchedule.InWindow(window, 0.5));
        Assert.Equal(window.Start, RenewalSchedule.InWindow(window with { End = window.Start.AddDays(-1) }, 0.7));
    }

    [Theory]
    [InlineData(1, 60)]
    [InlineData(2, 120)]
    [InlineData(5, 960)]
    [InlineData(30, 86_400)]
    public void Backoff_doubles_from_a_minute_to_a_day(int failures, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds * 0.9), RenewalSchedule.Backoff(failures, null, 0));
        Assert.Equal(TimeSpan.FromSeconds(seconds * 1.1), RenewalSchedule.Backoff(failures, null, 1));
    }

    [Fact]
    public void Backoff_honours_Retry_After_and_waits_an_hour_after_a_rate_limit()
    {
        var retryAfter = new AcmeException("busy", "urn:ietf:params:acme:error:serverInternal", retryAfter: TimeSpan.FromMinutes(30));
        var rateLimited = new AcmeException("slow down", AcmeException.ErrorPrefix + "rateLimited", retryAfter: TimeSpan.FromMinutes(5));

        Assert.Equal(TimeSpan.FromMinutes(30), RenewalSchedule.Backoff(1, retryAfter, 0.5));
        Assert.Equal(TimeSpan.FromHours(1), RenewalSchedule.Backoff(1, rateLimited, 0.5));
    }

    [Fact]
    public void CertificateId_is_the_RFC_9773_identifier()
    {
        // RFC 9773 §4.1's example: AKI keyIdentifier 69:88:5B:...:C8:D4 and serial 00:87:65:43:21.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ari.example", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(Convert.FromHexString("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")));
        using var certificate = request.Create(request.SubjectName, X509SignatureGenerator.CreateForECDsa(key), Issued, Issued.AddDays(90), [0x00, 0x87, 0x65, 0x43, 0x21]);

        Assert.Equal("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", RenewalSchedule.CertificateId(certificate));
    }
}
