using DreamBooth.TinyWorld.Pretraining;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

public sealed class HueRotationTests
{
    private static Tensor Images(long seed)
    {
        using var g = new Generator((ulong)seed);
        return rand(new long[] { 6, 3, 8, 8 }, generator: g).mul(2).sub(1);
    }

    [Fact]
    public void Matrices_AreRotationsThatKeepGreyAndPermuteChannelsAt120Degrees()
    {
        using var scope = NewDisposeScope();
        var m = HueRotation.Matrices(tensor(new float[] { 0f, (float)(2 * Math.PI / 3), 1.234f }));
        allclose(m[0], eye(3, dtype: float32), atol: 1e-6).Should().BeTrue("angle 0 is the identity");
        var perm = m[1].round();
        allclose(m[1], perm, atol: 1e-5).Should().BeTrue("120° maps each channel onto another");
        allclose(perm.sum(0L), ones(3, dtype: float32)).Should().BeTrue();
        allclose(perm.sum(1L), ones(3, dtype: float32)).Should().BeTrue();
        allclose(m[2].matmul(m[2].T), eye(3, dtype: float32), atol: 1e-5).Should().BeTrue("a rotation is orthogonal");
        allclose(m[2].matmul(ones(3, dtype: float32)), ones(3, dtype: float32), atol: 1e-5).Should().BeTrue("grey stays grey");
    }

    [Fact]
    public void Apply_RotatesAboutTheGivenShare_DeterministicallyFromTheGenerator()
    {
        using var scope = NewDisposeScope();
        var images = Images(3);
        using (var g = new Generator(5)) allclose(HueRotation.Apply(images, 0, g), images, 0, 0).Should().BeTrue("probability 0 is off");
        Tensor a, b;
        using (var g = new Generator(5)) a = HueRotation.Apply(images, 0.5, g);
        using (var g = new Generator(5)) b = HueRotation.Apply(images, 0.5, g);
        allclose(a, b, 0, 0).Should().BeTrue("same generator state, same augmentation");
        (a.min().item<float>() >= -1 && a.max().item<float>() <= 1).Should().BeTrue("clamped to the model range");
        using (var g = new Generator(5))
        {
            var all = HueRotation.Apply(images, 1, g);
            for (int i = 0; i < 6; i++) allclose(all[i], images[i], 0, 0).Should().BeFalse($"image {i} is rotated at probability 1");
        }
        var grey = full(new long[] { 4, 3, 2, 2 }, 0.25f);
        using (var g = new Generator(9)) allclose(HueRotation.Apply(grey, 1, g), grey, atol: 1e-5).Should().BeTrue("grey images are unchanged");
    }

    [Fact]
    public void Options_ValidateTheShare_AndFingerprintIt()
    {
        var o = new PretrainingOptions();
        o.VaeFingerprint.Should().Contain("vae_hue_augment=0.5");
        (o with { VaeHueAugment = 0 }).VaeFingerprint.Should().NotBe(o.VaeFingerprint);
        var bad = () => (o with { VaeHueAugment = 1.5 }).Validate();
        bad.Should().Throw<DreamBoothException>().WithMessage("--vae-hue-augment*[0, 1]*");
    }
}
