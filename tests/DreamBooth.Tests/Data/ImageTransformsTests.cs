using DreamBooth.Data;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Data;

/// <summary>torchvision semantics of the transforms (sizes, crop corners, random draws) and the tensor conversion.</summary>
public class ImageTransformsTests
{
    [Theory]
    [InlineData(640, 480, 512, 682, 512)]   // int(512·640/480) = int(682.67)
    [InlineData(480, 640, 512, 512, 682)]
    [InlineData(1000, 333, 512, 1537, 512)] // int(1537.54)
    [InlineData(512, 512, 512, 512, 512)]
    [InlineData(300, 200, 512, 768, 512)]   // upscale
    [InlineData(1, 1, 64, 64, 64)]
    [InlineData(3, 1000, 8, 8, 2666)]
    public void Shorter_side_becomes_the_size_like_torchvision_Resize(int w, int h, int size, int ew, int eh) =>
        ImageTransforms.ShorterSideSize(w, h, size).Should().Be((ew, eh));

    [Theory]
    [InlineData(682, 512, 512, 85, 0)]
    [InlineData(513, 512, 512, 0, 0)]   // round(0.5) = 0 (half to even, Python's round)
    [InlineData(515, 512, 512, 2, 0)]   // round(1.5) = 2
    [InlineData(517, 512, 512, 2, 0)]   // round(2.5) = 2
    [InlineData(64, 101, 64, 0, 18)]    // round(18.5) = 18
    public void Center_crop_corner_rounds_like_torchvision(int w, int h, int size, int left, int top) =>
        ImageTransforms.CenterCropOrigin(w, h, size).Should().Be((left, top));

    [Fact]
    public void Random_crop_draws_top_then_left_with_randint_from_the_given_generator()
    {
        using var g = new Generator(1234);
        using var reference = new Generator(1234);
        var corner = ImageTransforms.RandomCropOrigin(700, 512, 512, g);
        using var top = torch.randint(0L, 1L, [1L], ScalarType.Int64, generator: reference);
        using var left = torch.randint(0L, 700 - 512 + 1, [1L], ScalarType.Int64, generator: reference);
        corner.Should().Be(((int)left.item<long>(), (int)top.item<long>()));
        corner.Top.Should().Be(0);
    }

    [Fact]
    public void Random_crop_of_an_exact_fit_draws_nothing()
    {
        using var g = new Generator(7);
        var before = g.get_state();
        ImageTransforms.RandomCropOrigin(64, 64, 64, g).Should().Be((0, 0));
        g.get_state().data<byte>().ToArray().Should().Equal(before.data<byte>().ToArray());
    }

    [Fact]
    public void Random_flip_follows_rand_below_p()
    {
        using var g = new Generator(99);
        using var reference = new Generator(99);
        for (var i = 0; i < 20; i++)
        {
            using var r = torch.rand(1, ScalarType.Float32, generator: reference);
            ImageTransforms.RandomFlip(g).Should().Be(r.item<float>() < 0.5f);
        }
    }

    [Fact]
    public void Model_input_is_chw_in_minus_one_to_one_like_ToTensor_then_Normalize()
    {
        var img = new RgbImage(2, 1, [0, 128, 255, 10, 20, 30]);
        using var t = ImageTransforms.ToModelInput(img);
        t.shape.Should().Equal(3, 1, 2);
        t.dtype.Should().Be(ScalarType.Float32);
        var values = t.data<float>().ToArray();
        // Channel-major: R of both pixels, then G, then B; each (b/255 − 0.5)/0.5 in float32.
        float N(byte b) => (b / 255f - 0.5f) / 0.5f;
        values.Should().Equal(N(0), N(10), N(128), N(20), N(255), N(30));
        values[0].Should().Be(-1f);
        values[4].Should().Be(1f);
    }

    [Fact]
    public void ToTensor_is_in_zero_to_one()
    {
        using var t = RgbImage.Solid(3, 2, 255, 0, 51).ToTensor();
        t.shape.Should().Equal(3, 2, 3);
        t[0].max().item<float>().Should().Be(1f);
        t[1].max().item<float>().Should().Be(0f);
        t[2].min().item<float>().Should().Be(0.2f);
    }

    [Fact]
    public void Apply_crops_then_mirrors()
    {
        var px = Enumerable.Range(0, 4 * 2 * 3).Select(i => (byte)i).ToArray(); // 4x2
        var img = new RgbImage(4, 2, px);
        var crop = ImageTransforms.Apply(img, 2, new AugmentationVariant(1, 0, Flip: false));
        crop[0, 0].Should().Be(img[1, 0]);
        crop[1, 1].Should().Be(img[2, 1]);
        var flipped = ImageTransforms.Apply(img, 2, new AugmentationVariant(1, 0, Flip: true));
        flipped[0, 0].Should().Be(img[2, 0]);
        flipped[1, 1].Should().Be(img[1, 1]);
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)] [InlineData(7)] [InlineData(8)]
    public void Exif_orientation_remap_is_a_bijection_with_the_right_size(int orientation)
    {
        var px = Enumerable.Range(0, 5 * 3).SelectMany(i => new[] { (byte)i, (byte)(i * 2), (byte)(255 - i) }).ToArray();
        var upright = ExifOrientation.Apply(new RgbImage(5, 3, px), orientation);
        (upright.Width, upright.Height).Should().Be(orientation >= 5 ? (3, 5) : (5, 3));
        Enumerable.Range(0, 15).Select(i => upright.Pixels[i * 3]).Order().Should().Equal(Enumerable.Range(0, 15).Select(i => (byte)i));
    }
}
