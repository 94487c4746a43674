namespace Warren.Configuration.Tests;

public class SmokeTests
{
    [Fact]
    public void ProcessEnvironment_ReturnsSnapshot() => Assert.NotNull(ConfigLoader.ProcessEnvironment());
}
